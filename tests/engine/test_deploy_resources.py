"""`deploy_resources`: one deploy call (several BPMN and DMN resources) is one command, applied
in one transaction: all of it is stored or none, the deployment key and Zeebe's `forceNew`
rule are decided in that apply, and the copy for the other partitions is written as a pending
relay in the same transaction, so it is delivered even when the caller went away."""

from __future__ import annotations

from typing import Any

from support.bpmn import one_task
from support.dmn import discount_table

from zennode.engine import queries, records
from zennode.engine.commands.deploy_resources import distributed
from zennode.engine.relay import OTHERS, RELAY_EVENT, pending_relays

from .helpers import Harness


def task_process(pid: str, job_type: str = "work") -> str:
    return one_task(pid, job_type)


def resource(name: str, xml: str) -> dict[str, Any]:
    kind = "deploy_decisions" if name.endswith(".dmn") else "deploy"
    return {"type": kind, "xml": xml, "resourceName": name}


CALL = [
    resource("a.bpmn", task_process("a")),
    resource("d.dmn", discount_table()),
    resource("b.bpmn", task_process("b")),
]


def relays(outcome_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["relay"] for e in outcome_events if e["event"] == RELAY_EVENT]


def test_a_deploy_call_of_several_resources_is_one_command_and_one_deployment() -> None:
    h = Harness()
    outcome = h.apply("deploy_resources", resources=CALL)
    result = outcome.unwrap()
    a, d, b = result["resources"]
    deployment = result["deploymentKey"]
    assert result["duplicate"] is False
    assert [a["bpmnProcessId"], d["decisionRequirementsId"], b["bpmnProcessId"]] == [
        "a",
        "discounts",
        "b",
    ]
    assert {a["deploymentKey"], d["deploymentKey"], b["deploymentKey"]} == {deployment}
    with h.store.read() as txn:
        stored, total = queries.list_definitions(txn)
        assert total == 2 and {s["deploymentKey"] for s in stored} == {deployment}
        assert queries.list_decisions(txn)[1] == 1
    # the copy for the other partitions went out with it: one relay for the whole deployment
    [relay] = relays(outcome.events)
    assert relay["to"] == OTHERS and relay["command"]["type"] == "deploy_resources"
    assert [r["resourceName"] for r in relay["command"]["resources"]] == [
        "a.bpmn",
        "d.dmn",
        "b.bpmn",
    ]


def test_nothing_is_stored_when_one_resource_fails_inside_the_apply() -> None:
    h = Harness()
    h.ok("deploy_resources", resources=[resource("a.bpmn", task_process("a"))])
    before = h.snapshot()
    broken = resource("bad.bpmn", "<definitions>not a process</definitions>")
    outcome = h.apply("deploy_resources", resources=[*CALL, broken])
    assert outcome.error is not None and "resource 'bad.bpmn'" in outcome.error.message
    assert h.snapshot() == before  # not a, b or the decision, no key taken, no relay pending
    assert relays(outcome.events) == []
    # refused as well while deciding whether the call is a duplicate (all before it unchanged)
    outcome = h.apply("deploy_resources", resources=[CALL[0], broken])
    assert outcome.error is not None and "resource 'bad.bpmn'" in outcome.error.message
    assert h.snapshot() == before


def test_an_unchanged_call_is_a_duplicate_that_stores_nothing_but_sends_the_copy_again() -> None:
    """A retry after an unknown outcome, or the same call sent again to repair a deployment a
    partition lacks: no new definition or key, but the copy of the earlier deployment (its
    stored keys) is pending again, so the call waits for it and the relay re-delivers it."""
    h = Harness()
    first = h.ok("deploy_resources", resources=CALL)
    with h.store.read() as txn:
        [first_copy] = pending_relays(txn)
    ack = {k: v for k, v in first_copy["ack"].items() if k != "type"}
    h.ok("ack_relay", **ack)
    with h.store.read() as txn:
        definitions = queries.list_definitions(txn)
        assert distributed(txn, first["deploymentKey"])
    outcome = h.apply("deploy_resources", resources=CALL)
    again = outcome.unwrap()
    assert again["duplicate"] is True and again["deploymentKey"] == first["deploymentKey"]
    assert [r["duplicate"] for r in again["resources"]] == [True, True, True]
    [relay] = relays(outcome.events)
    assert relay["command"] == first_copy["command"] and relay["ack"] == first_copy["ack"]
    with h.store.read() as txn:
        assert queries.list_definitions(txn) == definitions
        assert not distributed(txn, first["deploymentKey"])


def test_a_changed_resource_gives_the_unchanged_ones_new_versions_in_its_deployment() -> None:
    """Zeebe's forceNew, decided in the one apply; the same document twice is stored once."""
    h = Harness()
    h.ok("deploy_resources", resources=CALL)
    changed = [*CALL[:2], resource("b.bpmn", task_process("b", job_type="other"))]
    result = h.ok("deploy_resources", resources=[*changed, CALL[0]])
    a, d, b, a_again = result["resources"]
    assert [a["version"], d["version"], b["version"]] == [2, 2, 2]
    assert a_again["processDefinitionKey"] == a["processDefinitionKey"]
    keys = {r["deploymentKey"] for r in (a, d, b, a_again)}
    assert keys == {result["deploymentKey"]}


def test_the_copy_is_pending_until_acknowledged_and_stores_the_same_keys() -> None:
    """The relay row is written by the deploy itself: a caller that went away loses nothing.
    Applied on another partition (twice, as a re-sent relay may be) it stores the same keys,
    versions and deployment; the ack deletes the row."""
    one, two = Harness(partition_id=1), Harness(partition_id=2)
    result = one.ok("deploy_resources", resources=CALL)
    deployment = result["deploymentKey"]
    with one.store.read() as txn:
        [pending] = pending_relays(txn)
        assert not distributed(txn, deployment)
    command = {k: v for k, v in pending["command"].items() if k != "type"}
    copy = two.ok("deploy_resources", **command)
    assert copy["duplicate"] is False
    assert [r["duplicate"] for r in two.ok("deploy_resources", **command)["resources"]] == [
        True
    ] * 3
    with one.store.read() as a_txn, two.store.read() as b_txn:
        assert queries.list_definitions(a_txn) == queries.list_definitions(b_txn)
        assert queries.list_decisions(a_txn) == queries.list_decisions(b_txn)
    ack = {k: v for k, v in pending["ack"].items() if k != "type"}
    assert one.ok("ack_relay", **ack)["acknowledged"] is True
    with one.store.read() as txn:
        assert pending_relays(txn) == [] and distributed(txn, deployment)
        assert txn.get("subscriptions", records.DEPLOY_PENDING + records.u64(deployment)) is None
