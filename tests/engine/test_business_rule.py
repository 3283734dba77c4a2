"""DMN in the engine: deploying decisions (versions, duplicates, assigned keys) and business
rule tasks (result variable, output mappings, bindings, incidents and their resolution).
`bindingType="deployment"` is in test_deployment_binding.py."""

from __future__ import annotations

from typing import Any

from support.bpmn import bpmn, business_rule, chain, decision_task, end, start
from support.dmn import discount_table

from zennode.engine import decisions
from zennode.errors import BadRequest

from .helpers import Harness, Partitions


def deploy_dmn(h: Harness, xml: str, **fields: Any) -> dict[str, Any]:
    return h.ok("deploy_decisions", xml=xml, **fields)


def test_deploy_versions_per_decision_and_identical_content_is_a_duplicate(h: Harness) -> None:
    first = deploy_dmn(h, discount_table())
    assert (first["version"], first["duplicate"]) == (1, False)
    decision = first["decisions"][0]
    assert (decision["decisionId"], decision["version"]) == ("discount", 1)
    again = deploy_dmn(h, discount_table())
    assert again["duplicate"] is True
    assert again["decisions"][0]["decisionKey"] == decision["decisionKey"]
    second = deploy_dmn(h, discount_table(gold="0.15"))
    assert (second["version"], second["decisions"][0]["version"]) == (2, 2)
    assert second["decisions"][0]["decisionKey"] != decision["decisionKey"]
    with h.store.read() as txn:
        assert (
            decisions.latest_decision_key(txn, "discount") == second["decisions"][0]["decisionKey"]
        )
        items, total = decisions.list_decisions(txn, None, 0, 10)
    assert total == 2 and [i["version"] for i in items] == [1, 2]


def test_other_partitions_store_the_assigned_keys() -> None:
    parts = Partitions(2)
    first = parts.ok(1, "deploy_decisions", xml=discount_table())
    decision = first["decisions"][0]
    assigned = {
        "requirements": {"key": first["decisionRequirementsKey"], "version": first["version"]},
        "decisions": {"discount": {"key": decision["decisionKey"], "version": 1}},
    }
    copy = parts.ok(2, "deploy_decisions", xml=discount_table(), assigned=assigned)
    assert copy["decisions"][0]["decisionKey"] == decision["decisionKey"]
    again = parts.ok(2, "deploy_decisions", xml=discount_table(), assigned=assigned)
    assert again["duplicate"] is True
    clash = parts[2].apply("deploy_decisions", xml=discount_table(gold="0.3"), assigned=assigned)
    assert clash.error is not None and "other content" in clash.error.message


def test_bad_documents_are_refused_naming_the_problem(h: Harness) -> None:
    out = h.apply("deploy_decisions", xml="<definitions/>")
    assert isinstance(out.error, BadRequest)
    assert h.apply("deploy_decisions", xml="").error is not None
    bad = discount_table().replace("<text>amount</text>", "<text>amount +</text>")
    out = h.apply("deploy_decisions", xml=bad)
    assert out.error is not None and "discount' input 2" in out.error.message


def test_business_rule_task_sets_the_result_variable(h: Harness) -> None:
    deploy_dmn(h, discount_table())
    key = h.start(decision_task("p", "discount"), {"customer": "gold", "amount": 300})
    inst = h.instance(key)
    assert inst["state"] == "completed"
    assert inst["variables"]["result"] == 0.1


def test_output_mappings_apply_after_the_result_and_zenbpm_namespace_works(h: Harness) -> None:
    deploy_dmn(h, discount_table())
    task = business_rule(
        "decide", "=which", "d", outputs={"price": "=amount * (1 - d)"}, ns="zenbpm"
    )
    xml = bpmn(start() + task + end() + chain("start", "decide", "end"))
    key = h.start(xml, {"which": "discount", "customer": "silver", "amount": 200})
    variables = h.instance(key)["variables"]
    assert variables["price"] == 190 and "d" not in variables


def test_bindings_latest_and_version_tag(h: Harness) -> None:
    deploy_dmn(h, discount_table(version_tag="v1"))
    deploy_dmn(h, discount_table(gold="0.3", version_tag="v2"))
    tagged = business_rule("decide", "discount", "result", binding="versionTag", version_tag="v1")
    xml = bpmn(start() + tagged + end() + chain("start", "decide", "end"), "tagged")
    key = h.start(xml, {"customer": "gold", "amount": 10})
    assert h.instance(key)["variables"]["result"] == 0.1
    key = h.start(decision_task("latest", "discount"), {"customer": "gold", "amount": 10})
    assert h.instance(key)["variables"]["result"] == 0.3


def test_failed_evaluation_is_an_incident_and_resolving_evaluates_again(h: Harness) -> None:
    deploy_dmn(h, discount_table())
    key = h.start(decision_task("p", "discount"), {"customer": "gold", "amount": 800})
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "DECISION_EVALUATION_ERROR"
    assert "discount" in incident["message"] and "UNIQUE" in incident["message"]
    h.ok("set_variables", processInstanceKey=key, variables={"amount": 300})
    h.ok("resolve_incident", incidentKey=incident["key"])
    inst = h.instance(key)
    assert inst["state"] == "completed" and inst["variables"]["result"] == 0.1


def test_a_missing_decision_is_an_incident_until_it_is_deployed(h: Harness) -> None:
    key = h.start(decision_task("p", "discount"), {"customer": "silver", "amount": 1})
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "CALLED_DECISION_ERROR"
    assert "discount" in incident["message"]
    deploy_dmn(h, discount_table())
    h.ok("resolve_incident", incidentKey=incident["key"])
    assert h.instance(key)["variables"]["result"] == 0.05


def test_called_decision_needs_its_attributes(h: Harness) -> None:
    task = business_rule("decide", "discount", "")
    out = h.apply("deploy", xml=bpmn(start() + task + end() + chain("start", "decide", "end")))
    assert out.error is not None and "resultVariable" in out.error.message
    task = business_rule("decide", "discount", "r", binding="versionTag")
    out = h.apply("deploy", xml=bpmn(start() + task + end() + chain("start", "decide", "end")))
    assert out.error is not None and "versionTag" in out.error.message
