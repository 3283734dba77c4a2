"""`bindingType="deployment"`: a business rule task or call activity binds to the decision or
process deployed in the same deployment (one deploy call) as the calling process, as in
Zeebe; one that is only in another deployment is an incident naming it.

The engine half (each definition records its deployment key; resolution by that key) runs on
one partition; the deploy-call half (one deployment key per call, unchanged resources of a
changed call get new versions, all or nothing, every partition stores the same) runs `Service`
against in-process partitions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.bpmn import bpmn, business_rule, call_activity, chain, definitions, end, process
from support.bpmn import start as start_event
from support.dmn import discount_table

from zennode.cluster.reads import run_read
from zennode.config import Limits
from zennode.engine import decisions, queries
from zennode.engine.commands import DeployResources
from zennode.engine.commands.wire import to_wire
from zennode.engine.keys import partition_of
from zennode.engine.outcome import Outcome
from zennode.errors import NotFound, TooLarge, Unavailable
from zennode.service import DEPLOYMENT_MARGIN_BYTES, Service, key_partition

from .helpers import Harness, Partitions

GOLD = {"customer": "gold", "amount": 10}


def rule_process(pid: str = "rules") -> str:
    task = business_rule("decide", "discount", "result", binding="deployment")
    return bpmn(start_event() + task + end() + chain("start", "decide", "end"), pid)


def caller_process(pid: str = "caller", target: str = "callee") -> str:
    body = start_event() + call_activity("call", target, ' bindingType="deployment"') + end()
    return process(body + chain("start", "call", "end"), pid)


def callee_process(pid: str = "callee", marker: str = "1") -> str:
    """A process that ends at once, leaving `marker` in the name so versions differ."""
    body = start_event() + end() + chain("start", "end")
    return process(body, pid).replace('isExecutable="true"', f'isExecutable="true" name="{marker}"')


def run(h: Harness, definition_key: int, variables: dict[str, Any]) -> int:
    created = h.ok("create_instance", processDefinitionKey=definition_key, variables=variables)
    key: int = created["processInstanceKey"]
    return key


# ---------------------------------------------------------------- one partition


def test_decision_of_the_same_deployment_is_used_even_when_a_later_version_exists(
    h: Harness,
) -> None:
    first = h.ok("deploy_decisions", xml=discount_table())
    deployment = first["deploymentKey"]
    assert deployment is not None and first["decisions"][0]["deploymentKey"] == deployment
    process = h.ok("deploy", xml=rule_process(), deploymentKey=deployment)
    assert process["deploymentKey"] == deployment
    later = h.ok("deploy_decisions", xml=discount_table(gold="0.3"))  # another deployment
    assert later["deploymentKey"] not in (None, deployment)
    key = run(h, process["processDefinitionKey"], GOLD)
    assert h.instance(key)["variables"]["result"] == 0.1  # version 1, not the latest 0.3
    with h.store.read() as txn:
        bound = decisions.resolve(txn, "discount", "deployment", None, deployment)
    assert bound["decisionKey"] == first["decisions"][0]["decisionKey"]


def test_decision_only_in_another_deployment_is_an_incident_naming_it(h: Harness) -> None:
    h.ok("deploy_decisions", xml=discount_table())  # its own deployment
    process = h.ok("deploy", xml=rule_process())  # another one
    key = run(h, process["processDefinitionKey"], GOLD)
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "CALLED_DECISION_ERROR"
    assert "'discount'" in incident["message"] and "deployment" in incident["message"]
    # `latest` would have found it: the binding is what refuses
    latest = bpmn(
        start_event()
        + business_rule("decide", "discount", "result")
        + end()
        + chain("start", "decide", "end"),
        "latest",
    )
    key = run(h, h.ok("deploy", xml=latest)["processDefinitionKey"], GOLD)
    assert h.instance(key)["variables"]["result"] == 0.1


def test_call_activity_binds_to_the_process_of_its_own_deployment(h: Harness) -> None:
    both = h.ok("deploy", xml=definitions(caller_process(), callee_process(marker="1")))
    assert len({p["deploymentKey"] for p in both["processes"]}) == 1
    old_callee = both["processes"][1]["processDefinitionKey"]
    newer = h.ok("deploy", xml=definitions(callee_process(marker="2")))  # latest callee
    assert newer["version"] == 2
    key = run(h, both["processes"][0]["processDefinitionKey"], {})
    assert h.instance(key)["state"] == "completed"
    assert called_definitions(h, key) == [old_callee]


def test_call_activity_to_a_process_only_in_another_deployment_is_an_incident(
    h: Harness,
) -> None:
    h.ok("deploy", xml=definitions(callee_process()))
    caller = h.ok("deploy", xml=definitions(caller_process()))
    key = run(h, caller["processDefinitionKey"], {})
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "CALLED_ELEMENT_ERROR"
    assert "'callee'" in incident["message"] and "deployment" in incident["message"]


def test_call_activity_binding_type_must_be_known(h: Harness) -> None:
    body = start_event() + call_activity("call", "x", ' bindingType="versionTag"') + end()
    out = h.apply("deploy", xml=bpmn(body + chain("start", "call", "end")))
    assert out.error is not None and "bindingType 'versionTag'" in out.error.message


def test_other_partitions_store_the_same_deployment_keys() -> None:
    parts = Partitions(2)
    first = parts.ok(1, "deploy_decisions", xml=discount_table())
    deployment = first["deploymentKey"]
    assigned = {
        "requirements": {
            "key": first["decisionRequirementsKey"],
            "version": 1,
            "deploymentKey": deployment,
        },
        "decisions": {"discount": {"key": first["decisions"][0]["decisionKey"], "version": 1}},
    }
    copy = parts.ok(2, "deploy_decisions", xml=discount_table(), assigned=assigned)
    assert copy["deploymentKey"] == deployment
    with parts[2].store.read() as txn:
        bound = decisions.resolve(txn, "discount", "deployment", None, deployment)
    assert bound["decisionKey"] == first["decisions"][0]["decisionKey"]


# ---------------------------------------------------------------- deploy calls (Service)


class InProcessCluster:
    """The part of ClusterClient that deploying uses, over in-process partitions."""

    def __init__(self, count: int) -> None:
        self.parts = Partitions(count)
        self.partition_ids = list(range(1, count + 1))

    async def submit(self, partition_id: int, command: Any, idempotency: Any = None) -> Outcome:
        wire = to_wire(command)  # an idempotency key is not kept here: each call is applied
        return self.parts.apply(partition_id, wire.pop("type"), **wire)

    def partition_of(self, key: int, what: str) -> int:
        return partition_of(key)

    async def read(self, partition_id: int, name: str, **args: Any) -> Any:
        with self.parts[partition_id].store.read() as txn:
            return run_read(txn, name, args)


def deploy_call(cluster: InProcessCluster, *resources: tuple[str, str]) -> list[dict[str, Any]]:
    service = Service(cluster, Limits())  # type: ignore[arg-type]
    named = [(name, text.encode()) for name, text in resources]
    return asyncio.run(service.deploy_resources(named))


def test_a_deploy_call_is_one_deployment_on_every_partition() -> None:
    cluster = InProcessCluster(2)
    dmn_result, bpmn_result = deploy_call(
        cluster, ("d.dmn", discount_table()), ("p.bpmn", rule_process())
    )
    deployment = bpmn_result["deploymentKey"]
    assert dmn_result["deploymentKey"] == deployment
    for pid in (1, 2):
        h = cluster.parts[pid]
        key = run(h, bpmn_result["processDefinitionKey"], GOLD)
        assert h.instance(key)["variables"]["result"] == 0.1


def test_unchanged_resources_of_a_changed_call_get_new_versions_in_that_deployment() -> None:
    cluster = InProcessCluster(2)
    first = deploy_call(cluster, ("d.dmn", discount_table()), ("p.bpmn", rule_process()))
    again = deploy_call(cluster, ("d.dmn", discount_table()), ("p.bpmn", rule_process()))
    assert [r["duplicate"] for r in again] == [True, True]  # nothing new: the same deployment
    assert again[1]["processDefinitionKey"] == first[1]["processDefinitionKey"]
    # a changed decision with the unchanged process: both become new versions of one deployment
    changed = deploy_call(
        cluster, ("d.dmn", discount_table(gold="0.3")), ("p.bpmn", rule_process())
    )
    assert [r["duplicate"] for r in changed] == [False, False]
    assert changed[1]["version"] == 2 and changed[0]["deploymentKey"] == changed[1]["deploymentKey"]
    # the process alone, unchanged, after its decision changed elsewhere: it stays bound to the
    # decision of its own deployment
    deploy_call(cluster, ("other.dmn", discount_table(gold="0.5")))
    for pid in (1, 2):
        h = cluster.parts[pid]
        assert run_result(h, changed[1]["processDefinitionKey"]) == 0.3
        assert run_result(h, first[1]["processDefinitionKey"]) == 0.1


def test_call_activity_and_callee_deployed_together_from_two_resources() -> None:
    cluster = InProcessCluster(2)
    callee, caller = deploy_call(
        cluster,
        ("callee.bpmn", definitions(callee_process(marker="1"))),
        ("caller.bpmn", definitions(caller_process())),
    )
    callee_key = callee["processDefinitionKey"]
    deploy_call(cluster, ("callee.bpmn", definitions(callee_process(marker="2"))))
    for pid in (1, 2):
        h = cluster.parts[pid]
        key = run(h, caller["processDefinitionKey"], {})
        assert h.instance(key)["state"] == "completed"
        assert called_definitions(h, key) == [callee_key]


def called_definitions(h: Harness, key: int) -> list[int]:
    with h.store.read() as txn:
        children, _ = queries.child_instances(txn, key)
    return [c["processDefinitionKey"] for c in children]


def run_result(h: Harness, definition_key: int) -> Any:
    """The decision's result, or None when the task is stuck in an incident."""
    key = run(h, definition_key, GOLD)
    return h.instance(key)["variables"].get("result")


def test_unchanged_resources_from_different_deployments_become_one_deployment() -> None:
    cluster = InProcessCluster(2)
    [alone] = deploy_call(cluster, ("d.dmn", discount_table()))
    [process_alone] = deploy_call(cluster, ("p.bpmn", rule_process()))
    assert alone["deploymentKey"] != process_alone["deploymentKey"]
    assert run_result(cluster.parts[1], process_alone["processDefinitionKey"]) is None  # incident
    together = deploy_call(cluster, ("d.dmn", discount_table()), ("p.bpmn", rule_process()))
    assert [r["version"] for r in together] == [2, 2]
    assert together[0]["deploymentKey"] == together[1]["deploymentKey"]
    for pid in (1, 2):
        assert run_result(cluster.parts[pid], together[1]["processDefinitionKey"]) == 0.1


class CutOffCluster(InProcessCluster):
    """An InProcessCluster whose leader is lost (503) for the first `fail` submits that
    `cut(partition_id, command)` selects, as if the call was cut off there: before the command
    is applied, or (`applied`) after it was applied but before the answer came back."""

    def __init__(self, count: int, cut: Any, fail: int = 1, applied: bool = False) -> None:
        super().__init__(count)
        self.cut, self.fail, self.applied = cut, fail, applied

    async def submit(self, partition_id: int, command: Any) -> Outcome:
        if self.fail and self.cut(partition_id, command):
            self.fail -= 1
            if self.applied:
                await super().submit(partition_id, command)
            raise Unavailable("leader lost", partition_id)
        return await super().submit(partition_id, command)


def is_deployment(partition_id: int, command: Any) -> bool:
    return partition_id == 1 and isinstance(command, DeployResources)


def test_a_deploy_call_cut_off_before_partition_1_applied_it_stores_nothing() -> None:
    """All or nothing: the whole call is one command, so a call lost on its way stored none of
    its resources; the same call again deploys them all as one deployment, version 1."""
    cluster = CutOffCluster(2, is_deployment)
    resources = (("d.dmn", discount_table()), ("p.bpmn", rule_process()))
    with pytest.raises(Unavailable):
        deploy_call(cluster, *resources)
    for pid in (1, 2):
        with cluster.parts[pid].store.read() as txn:
            assert queries.list_definitions(txn) == ([], 0)
            assert queries.list_decisions(txn) == ([], 0)
    dmn_result, bpmn_result = deploy_call(cluster, *resources)
    assert [dmn_result["version"], bpmn_result["version"]] == [1, 1]
    assert dmn_result["deploymentKey"] == bpmn_result["deploymentKey"]
    for pid in (1, 2):
        assert run_result(cluster.parts[pid], bpmn_result["processDefinitionKey"]) == 0.1


def test_a_deploy_call_whose_answer_was_lost_is_stored_everywhere_and_repeats_as_duplicate() -> (
    None
):
    """Cut off after partition 1 applied the call: the copies were relayed by partition 1
    itself (not by the caller), so every partition has the deployment; the same call again is
    a duplicate of it."""
    cluster = CutOffCluster(2, is_deployment, applied=True)
    resources = (("d.dmn", discount_table()), ("p.bpmn", rule_process()))
    with pytest.raises(Unavailable):
        deploy_call(cluster, *resources)
    for pid in (1, 2):
        with cluster.parts[pid].store.read() as txn:
            assert queries.list_definitions(txn)[1] == 1
            assert queries.list_decisions(txn)[1] == 1
    again = deploy_call(cluster, *resources)
    assert [r["duplicate"] for r in again] == [True, True]
    for pid in (1, 2):
        assert run_result(cluster.parts[pid], again[1]["processDefinitionKey"]) == 0.1


def test_a_deployment_larger_than_one_command_is_refused_before_anything_is_stored() -> None:
    """Its copy must fit in one command too, or it could never be relayed: a 413 up front."""
    cluster = InProcessCluster(2)
    resources = [("d.dmn", discount_table()), ("p.bpmn", rule_process())]
    size = sum(len(text.encode()) for _name, text in resources)
    limits = Limits(request_bytes_max=DEPLOYMENT_MARGIN_BYTES + size - 1)
    service = Service(cluster, limits)  # type: ignore[arg-type]
    named = [(name, text.encode()) for name, text in resources]
    with pytest.raises(TooLarge, match="at most"):
        asyncio.run(service.deploy_resources(named))
    with cluster.parts[1].store.read() as txn:
        assert queries.list_decisions(txn) == ([], 0)
    [alone] = asyncio.run(service.deploy_resources(named[:1]))  # a smaller one fits
    assert alone["version"] == 1


def test_a_create_on_a_partition_its_copy_has_not_reached_yet_is_retryable() -> None:
    """A deploy answers at the latest `DISTRIBUTION_WAIT_S` after partition 1 stored it; a
    create on a partition still without the copy is a 503 (retry), not a 404."""
    cluster = InProcessCluster(2)
    service = Service(cluster, Limits())  # type: ignore[arg-type]
    resources = [{"type": "deploy", "xml": rule_process()}]
    stored = cluster.parts[1].ok("deploy_resources", resources=resources)
    key = stored["resources"][0]["processDefinitionKey"]  # on partition 1, its copy not sent
    on_two = next(f"k{n}" for n in range(100) if key_partition(f"k{n}", [1, 2]) == 2)
    with pytest.raises(Unavailable, match="still being copied"):
        asyncio.run(service.create_instance(process_definition_key=key, idempotency_key=on_two))
    with pytest.raises(Unavailable, match="still being copied"):
        asyncio.run(service.create_instance(bpmn_process_id="rules", idempotency_key=on_two))
    with pytest.raises(NotFound):  # what partition 1 does not have either is not found
        asyncio.run(service.create_instance(bpmn_process_id="other", idempotency_key=on_two))
    with pytest.raises(NotFound):
        asyncio.run(
            service.create_instance(bpmn_process_id="rules", version=2, idempotency_key=on_two)
        )
