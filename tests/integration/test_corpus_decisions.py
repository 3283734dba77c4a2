"""The shared corpus models that call decisions, deployed with their DMN and run to their end
over REST on a real two-partition node.

- `zeebe/invoice.bpmn` (Zeebe's Operate QA model) calls `invoiceAssignApprover`, a decision of
  the Camunda Modeler 8 DRD `tests/dmn/models/invoice-decisions.dmn`.
- `zenbpm/invoice_liquidation.bpmn` (ZenBPM's k6 model, with its callee
  `zenbpm/invoice_check.bpmn`) calls three decisions; the corpus has no DMN for them, so
  `tests/dmn/models/invoice-liquidation-decisions.dmn` (written for these tests) holds them.
- `bpmn-miwg/C.9.0.bpmn` calls `risk_check`: `tests/dmn/models/risk-check.dmn` (written here).

A small driver completes every active job (user tasks are jobs too) with the variables the
test gives for its element or type, until the instance completes; an incident fails the test
with its message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from corpus.test_corpus_deploy import CORPUS
from support.nodes import NodeThread
from support.rest import RestClient
from support.waits import wait_until

MODELS = Path(__file__).parents[1] / "dmn" / "models"
XML = {"content-type": "application/xml"}
JOBS_PAGE = 100
ROUNDS_MAX = 60  # job waves one instance may need (the longest path has about 15)
WAIT_S = 15.0


def deploy(api: RestClient, route: str, path: Path) -> dict[str, Any]:
    assert path.is_file(), f"{path} is missing (the shared corpus is needed: {CORPUS})"
    response = api.call("POST", route, content=path.read_bytes(), headers=XML)
    assert response.status_code in (200, 201), response.text
    return response.json()


def active_jobs(api: RestClient) -> list[dict[str, Any]]:
    page = api.get("/v1/jobs", params={"state": "active", "size": JOBS_PAGE}).json()
    return [job for part in page["partitions"] for job in part["items"]]


def open_incidents(api: RestClient) -> list[dict[str, Any]]:
    page = api.get("/v1/incidents", params={"state": "active"}).json()
    return [item for part in page["partitions"] for item in part["items"]]


def run_to_end(
    api: RestClient,
    process_id: str,
    variables: dict[str, Any],
    answers: dict[str, dict[str, Any]],
) -> tuple[dict[str, Any], list[str]]:
    """Start `process_id`, complete its jobs (`answers` by element id, else by job type, else
    no variables) until it completes; the instance and the elements whose jobs ran."""
    created = api.call(
        "POST", "/v1/process-instances", json={"bpmnProcessId": process_id, "variables": variables}
    )
    assert created.status_code == 201, created.text
    key = created.json()["processInstanceKey"]
    ran: list[str] = []

    def next_move() -> Any:
        incidents = open_incidents(api)
        if incidents:
            return ("incident", incidents)
        instance = api.get(f"/v1/process-instances/{key}").json()
        if instance["state"] != "active":
            return ("ended", instance)
        jobs = active_jobs(api)
        return ("jobs", jobs) if jobs else None

    for _ in range(ROUNDS_MAX):
        move, value = wait_until(next_move, WAIT_S, f"{process_id}: a job, an incident or the end")
        if move == "ended":
            assert value["state"] == "completed", value
            return value, ran
        assert move == "jobs", f"{process_id} stopped at incidents: {value}"
        for job in value:
            given = answers.get(job["elementId"], answers.get(job["type"], {}))
            done = api.call("POST", f"/v1/jobs/{job['key']}/complete", json={"variables": given})
            assert done.status_code == 204, done.text
            ran.append(job["elementId"])
    raise AssertionError(f"{process_id} did not end within {ROUNDS_MAX} rounds: ran {ran}")


@pytest.fixture
def api(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> RestClient:
    return client_for(start_node(partitions=2))


def test_zeebe_invoice_model_runs_with_the_camunda_modeler_drd(api: RestClient) -> None:
    deploy(api, "/v1/decision-definitions", MODELS / "invoice-decisions.dmn")
    deploy(api, "/v1/process-definitions", CORPUS / "zeebe" / "invoice.bpmn")
    for amount, groups in ((100, ["accounting", "sales"]), (5000, ["management"])):
        variables = {"amount": amount, "invoiceCategory": "Misc"}
        instance, ran = run_to_end(api, "invoice", variables, {})
        assert instance["variables"]["approverGroups"] == groups
        assert ran == ["Activity_11ptrz9"]  # the user task "Check invoice"


def _liquidation(checks: bool) -> dict[str, dict[str, Any]]:
    """Job answers: the checks of the called invoice_check all say `checks`."""
    return {
        "UserTask_ManualniNahraniFaktury": {
            "invoiceNumber": "INV-1",
            "invoiceTotalNetAmount": 12_000,
            "invoiceOrderReference": "PO-7",
        },
        "KontrolaExistenceKorespondujiciObjednavky": {"orderExists": checks},
        "KontrolaShodnostiUdajuDodavateleNaFaktureVuciInterniEvidenci": {
            "supplierDataMatches": checks
        },
        "KontrolaSpolehlivostiPlatceDPH": {"isReliableVatPayer": checks},
        "AktualizaceDatDodavatele": {"isReliableVatPayer": checks},
        "KontrolaShodnostiBankUctuNaFaktureVuciEvidenci": {"isBankAccountRegistered": checks},
        "MatematickaKontrolaObsahuFaktury": {"hasAmountMatch": checks},
        "UserTask_SchvaleniFaktury": {"schvaleno": True, "invoiceRejectionReasonCode": None},
        "UserTask_KonfiguraceUctovaniFaktury": {"payPrevodem": True, "payZapoctem": False},
    }


def test_zenbpm_invoice_liquidation_approves_and_rejects_by_its_decisions(
    api: RestClient,
) -> None:
    deploy(api, "/v1/decision-definitions", MODELS / "invoice-liquidation-decisions.dmn")
    deploy(api, "/v1/process-definitions", CORPUS / "zenbpm" / "invoice_check.bpmn")
    deploy(api, "/v1/process-definitions", CORPUS / "zenbpm" / "invoice_liquidation.bpmn")
    process_id = "LikvidaceDodavatelskeFaktury"

    approved, ran = run_to_end(api, process_id, {}, _liquidation(checks=True))
    variables = approved["variables"]
    assert variables["whatNextResult"]["whatNext"] == "Pokracovat"
    assert variables["designationOfApproversResult"] == ["team lead", "finance director"]
    assert "ServiceTask_VytvoreniNavrhuPrikazuPlatby" in ran  # paid by transfer

    rejected, ran = run_to_end(api, process_id, {}, _liquidation(checks=False))
    variables = rejected["variables"]
    assert variables["whatNextResult"]["whatNext"] == "Zamitnuto"
    assert variables["title"] == "Invoice rejected"
    assert variables["description"] == "No order matches the invoice."
    assert "SendTask_OznameniZamitnutiFaktury" in ran and "UserTask_SchvaleniFaktury" not in ran


def test_miwg_c90_issues_or_rejects_by_the_risk_check(api: RestClient) -> None:
    deploy(api, "/v1/decision-definitions", MODELS / "risk-check.dmn")
    deploy(api, "/v1/process-definitions", CORPUS / "bpmn-miwg" / "C.9.0.bpmn")
    process_id = "customer_onboarding_en"
    start = {
        "applicant": {"name": "Ada", "email": "ada@example.org"},
        "applicationNumber": "A-1",
        "product": "current account",  # read by the mail connector's input mapping
        "corporation": "ACME",
    }

    issued, ran = run_to_end(api, process_id, start, {"calculateScore": {"creditScore": 800}})
    assert issued["variables"]["riskLevels"] == ["green"]
    assert ran[-1] == "SendTask_SendPolicy"

    refused, ran = run_to_end(api, process_id, start, {"calculateScore": {"creditScore": 300}})
    assert refused["variables"]["risks"] == ["low credit score"]
    assert ran[-2:] == ["ServiceTask_RejectPolicy", "SendTask_SendRejection"]
