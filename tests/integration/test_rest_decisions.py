"""DMN over REST on a real node with two partitions: deploy (raw and multipart, versions,
duplicates), list and get, evaluate on every partition, a business rule task, and its
incident when the decision fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.bpmn import decision_task
from support.dmn import discount_table
from support.nodes import NodeThread
from support.rest import RestClient
from support.waits import wait_until

XML = {"content-type": "application/xml"}
INVOICE_DMN = Path(__file__).parents[1] / "dmn" / "models" / "invoice-decisions.dmn"


def deploy_dmn(api: RestClient, xml: str, status: int = 201) -> dict[str, Any]:
    response = api.call("POST", "/v1/decision-definitions", content=xml, headers=XML)
    assert response.status_code == status, response.text
    return response.json()


def evaluate(api: RestClient, decision_id: str, variables: Any) -> dict[str, Any]:
    response = api.call(
        "POST", f"/v1/decision-definitions/{decision_id}/evaluate", json={"variables": variables}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_deploy_list_get_and_evaluate_decisions(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node(partitions=2))
    first = deploy_dmn(api, discount_table())
    [decision] = first["decisions"]
    assert (decision["decisionId"], decision["version"], first["duplicate"]) == (
        "discount",
        1,
        False,
    )
    again = deploy_dmn(api, discount_table(), status=200)
    assert again["decisions"][0]["decisionKey"] == decision["decisionKey"]
    files = {"resource": ("rules.dmn", discount_table(gold="0.15").encode(), "application/xml")}
    response = api.call("POST", "/v1/decision-definitions", files=files)
    assert response.status_code == 201, response.text
    second = response.json()
    assert (second["resourceName"], second["decisions"][0]["version"]) == ("rules.dmn", 2)

    page = api.get("/v1/decision-definitions", params={"decisionId": "discount"}).json()
    assert page["totalCount"] == 2 and [d["version"] for d in page["items"]] == [1, 2]
    detail = api.get(f"/v1/decision-definitions/{decision['decisionKey']}").json()
    assert detail["decisionId"] == "discount" and "<decisionTable" in detail["xml"]
    assert "T" in detail["deployedAt"]

    # Round robin over both partitions: each holds the decisions and evaluates the latest.
    for _ in range(4):
        result = evaluate(api, "discount", {"customer": "gold", "amount": 300})
        assert result["output"] == 0.15 and result["decisionVersion"] == 2
        [evaluated] = result["evaluatedDecisions"]
        assert evaluated["decisionKey"] == second["decisions"][0]["decisionKey"]
        assert [r["ruleId"] for r in evaluated["matchedRules"]] == ["r_gold"]
        assert [i["inputValue"] for i in evaluated["evaluatedInputs"]] == ["gold", 300]

    failed = evaluate(api, "discount", {"customer": "gold", "amount": 800})
    assert failed["failedDecisionId"] == "discount" and "UNIQUE" in failed["failureMessage"]
    assert failed["output"] is None


def test_bad_requests_are_clear_4xx(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node(partitions=1))
    bad = api.call("POST", "/v1/decision-definitions", content="<definitions", headers=XML)
    assert bad.status_code == 400 and bad.json()["message"]
    empty = api.call("POST", "/v1/decision-definitions", content=b"", headers=XML)
    assert empty.status_code == 400
    missing = api.call("POST", "/v1/decision-definitions/nope/evaluate", json={"variables": {}})
    assert missing.status_code == 404 and "nope" in missing.json()["message"]
    deploy_dmn(api, discount_table())
    not_object = api.call(
        "POST", "/v1/decision-definitions/discount/evaluate", json={"variables": [1]}
    )
    assert not_object.status_code == 400
    assert api.get("/v1/decision-definitions/12345").status_code == 404


def test_business_rule_task_runs_on_every_partition(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node(partitions=2))
    deploy_dmn(api, discount_table())
    response = api.call(
        "POST", "/v1/process-definitions", content=decision_task("priced", "discount"), headers=XML
    )
    assert response.status_code == 201, response.text
    keys = []
    for _ in range(2):  # instances go round robin: one per partition
        created = api.call(
            "POST",
            "/v1/process-instances",
            json={"bpmnProcessId": "priced", "variables": {"customer": "silver", "amount": 5}},
        )
        assert created.status_code == 201, created.text
        keys.append(created.json()["processInstanceKey"])

    def finished(key: int) -> dict[str, Any] | None:
        body = api.get(f"/v1/process-instances/{key}").json()
        return body if body["state"] == "completed" else None

    for key in keys:
        instance = wait_until(lambda k=key: finished(k), 15, "instance completed")
        assert instance["variables"]["result"] == 0.05


def test_a_failing_decision_is_an_incident_naming_it_and_resolving_evaluates_again(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    """The Camunda Modeler DRD: an invoice category outside the input values of the required
    decision `invoiceClassification` fails it; the incident names that decision, and once the
    variable is fixed, resolving the incident evaluates the decision again."""
    api = client_for(start_node(partitions=2))
    deploy_dmn(api, INVOICE_DMN.read_text(encoding="utf-8"))
    task = decision_task("approve", "invoiceAssignApprover", result="approverGroups")
    response = api.call("POST", "/v1/process-definitions", content=task, headers=XML)
    assert response.status_code == 201, response.text
    created = api.call(
        "POST",
        "/v1/process-instances",
        json={"bpmnProcessId": "approve", "variables": {"amount": 100, "invoiceCategory": "Food"}},
    )
    assert created.status_code == 201, created.text
    key = created.json()["processInstanceKey"]

    def incidents() -> list[dict[str, Any]]:
        page = api.get(
            "/v1/incidents", params={"processInstanceKey": key, "state": "active"}
        ).json()
        return [item for part in page["partitions"] for item in part["items"]]

    [incident] = wait_until(incidents, 15, "an incident")
    assert incident["errorType"] == "DECISION_EVALUATION_ERROR"
    assert "invoiceClassification" in incident["message"], incident["message"]
    fixed = api.call(
        "PATCH",
        f"/v1/process-instances/{key}/variables",
        json={"variables": {"invoiceCategory": "Misc"}},
    )
    assert fixed.status_code == 204, fixed.text
    resolved = api.call("POST", f"/v1/incidents/{incident['key']}/resolve")
    assert resolved.status_code == 204, resolved.text

    def finished() -> dict[str, Any] | None:
        body = api.get(f"/v1/process-instances/{key}").json()
        return body if body["state"] == "completed" else None

    instance = wait_until(finished, 15, "instance completed")
    assert instance["variables"]["approverGroups"] == ["accounting", "sales"]
