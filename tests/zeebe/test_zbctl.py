"""zbctl 8.4 (the npm package's Linux binary, unmodified) against a three-node zennode cluster."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.bpmn import decision_task, message_wait
from zeebe_models import service_task, unique

pytestmark = pytest.mark.timeout(180)

# A DRD as Camunda Modeler 8 saves it: invoiceClassification feeds invoiceAssignApprover.
INVOICE_DMN = Path(__file__).parents[1] / "dmn" / "models" / "invoice-decisions.dmn"

ZBCTL_TIMEOUT_S = 30


class Zbctl:
    """Runs zbctl against one node's public gRPC port (plaintext)."""

    def __init__(self, binary: Path, address: str) -> None:
        self.binary = binary
        self.address = address

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), "--insecure", "--address", self.address, *args],
            capture_output=True,
            text=True,
            timeout=ZBCTL_TIMEOUT_S,
        )
        if ok:
            assert done.returncode == 0, f"zbctl {' '.join(args)} failed: {done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)


def test_zbctl_status_deploy_create_activate_complete_publish(
    zbctl: Path, cluster3: dict, tmp_path: Path
) -> None:
    process_id, job_type = unique("zb-order"), unique("zb-charge")
    wait_id, message = unique("zb-wait"), unique("zb-paid")
    (tmp_path / "order.bpmn").write_text(service_task(process_id, job_type))
    (tmp_path / "wait.bpmn").write_text(message_wait(wait_id, message))
    zb = Zbctl(zbctl, cluster3["nodes"][2]["grpc"])

    status = zb.run("status").stdout
    assert "Cluster size: 3" in status and "Partitions count: 3" in status
    assert status.count("Leader, Healthy") == 3  # one leader per partition
    assert status.count("Follower, Healthy") == 6

    deployed = zb.json(
        "deploy", "resource", str(tmp_path / "order.bpmn"), str(tmp_path / "wait.bpmn")
    )
    assert sorted(d["process"]["bpmnProcessId"] for d in deployed["deployments"]) == sorted(
        [process_id, wait_id]
    )

    instances = [
        zb.json("create", "instance", process_id, "--variables", json.dumps({"n": i}))
        for i in range(3)
    ]
    assert all(i["bpmnProcessId"] == process_id and i["version"] == 1 for i in instances)
    keys = {int(i["processInstanceKey"]) for i in instances}

    activated = zb.json(
        "activate", "jobs", job_type, "--maxJobsToActivate", "10", "--worker", "zb",
        "--requestTimeout", "5s",
    )  # fmt: skip
    jobs = activated["jobs"]
    assert {int(j["processInstanceKey"]) for j in jobs} == keys
    for job in jobs:
        assert job["worker"] == "zb" and job["tenantId"] == "<default>"
        assert json.loads(job["customHeaders"]) == {"region": "eu"}
        zb.run("complete", "job", job["key"], "--variables", '{"done": true}')
    # Completed jobs are gone: nothing more to activate, and the poll ends OK.
    empty = zb.json("activate", "jobs", job_type, "--requestTimeout", "1s")
    assert empty.get("jobs", []) == []

    waiting = zb.json("create", "instance", wait_id, "--variables", '{"orderId": "zb-1"}')
    published = zb.json(
        "publish", "message", message, "--correlationKey", "zb-1", "--messageId", "zb-m-1",
        "--ttl", "1m", "--variables", '{"paid": true}',
    )  # fmt: skip
    assert int(published["key"]) > 0
    duplicate = zb.run(
        "publish", "message", message, "--correlationKey", "zb-1", "--messageId", "zb-m-1",
        ok=False,
    )  # fmt: skip
    assert duplicate.returncode != 0 and "AlreadyExists" in duplicate.stderr

    # The instance that waited for the message has ended: for Zeebe clients it is gone.
    cancel = zb.run("cancel", "instance", waiting["processInstanceKey"], ok=False)
    assert cancel.returncode != 0 and "NotFound" in cancel.stderr and "completed" in cancel.stderr


def test_zbctl_create_with_result_fail_and_resolve(
    zbctl: Path, cluster3: dict, tmp_path: Path
) -> None:
    process_id, job_type = unique("zb-fail"), unique("zb-flaky")
    (tmp_path / "fail.bpmn").write_text(service_task(process_id, job_type, retries=1))
    zb = Zbctl(zbctl, cluster3["nodes"][0]["grpc"])
    zb.json("deploy", "resource", str(tmp_path / "fail.bpmn"))

    timed_out = zb.run(
        "create", "instance", process_id, "--withResult", "--requestTimeout", "1s", ok=False
    )
    assert timed_out.returncode != 0 and "DeadlineExceeded" in timed_out.stderr

    (job,) = zb.json("activate", "jobs", job_type, "--requestTimeout", "5s")["jobs"]
    zb.run("fail", "job", job["key"], "--retries", "0", "--errorMessage", "disk full")
    # The job is in an incident now: completing it is refused with FAILED_PRECONDITION.
    refused = zb.run("complete", "job", job["key"], ok=False)
    assert refused.returncode != 0 and "FailedPrecondition" in refused.stderr
    zb.run("update", "retries", job["key"], "--retries", "2")
    zb.run("set", "variables", job["processInstanceKey"], "--variables", '{"fixed": true}')
    unknown = zb.run("resolve", "incident", "2251799813685247", ok=False)
    assert unknown.returncode != 0 and "NotFound" in unknown.stderr
    # zbctl cannot list incidents (the gateway API has no query): REST finds its key.
    instance_key = job["processInstanceKey"]
    with httpx.Client(base_url=cluster3["nodes"][1]["http"], timeout=10) as rest:
        listed = rest.get("/v1/incidents", params={"processInstanceKey": instance_key})
        (incident,) = [i for part in listed.json()["partitions"] for i in part["items"]]
        zb.run("resolve", "incident", str(incident["key"]))
        (again,) = zb.json("activate", "jobs", job_type, "--requestTimeout", "5s")["jobs"]
        assert again["key"] == job["key"] and again["retries"] == 2
        assert json.loads(again["variables"])["fixed"] is True
        zb.run("complete", "job", again["key"])
        state = rest.get(f"/v1/process-instances/{instance_key}").json()["state"]
        assert state == "completed"


def test_zbctl_deploys_dmn_with_bpmn_evaluates_and_runs_a_business_rule_task(
    zbctl: Path, cluster3: dict, tmp_path: Path
) -> None:
    process_id = unique("zb-invoice")
    (tmp_path / "invoice.bpmn").write_text(
        decision_task(process_id, "invoiceAssignApprover", result="approverGroups")
    )
    zb = Zbctl(zbctl, cluster3["nodes"][1]["grpc"])
    deployed = zb.json("deploy", "resource", str(INVOICE_DMN), str(tmp_path / "invoice.bpmn"))
    by_kind: dict[str, list[dict]] = {}
    for deployment in deployed["deployments"]:
        ((kind, metadata),) = deployment.items()
        by_kind.setdefault(kind, []).append(metadata)
    assert [p["bpmnProcessId"] for p in by_kind["process"]] == [process_id]
    (requirements,) = by_kind["decisionRequirements"]
    assert requirements["dmnDecisionRequirementsId"] == "invoiceDecisions"
    assert requirements["resourceName"].endswith("invoice-decisions.dmn")  # zbctl: the path
    decisions = {d["dmnDecisionId"]: d for d in by_kind["decision"]}
    assert sorted(decisions) == ["invoiceAssignApprover", "invoiceClassification"]
    assigner = decisions["invoiceAssignApprover"]
    assert assigner["decisionRequirementsKey"] == requirements["decisionRequirementsKey"]

    variables = json.dumps({"amount": 100, "invoiceCategory": "Misc"})
    for decision in ("invoiceAssignApprover", str(assigner["decisionKey"])):  # id, then key
        result = zb.json("evaluate", "decision", decision, "--variables", variables)
        assert result["decisionId"] == "invoiceAssignApprover"
        assert json.loads(result["decisionOutput"]) == ["accounting", "sales"]
        evaluated = [d["decisionId"] for d in result["evaluatedDecisions"]]
        assert evaluated == ["invoiceClassification", "invoiceAssignApprover"]
    unknown = json.dumps({"amount": 1, "invoiceCategory": "Food"})  # outside the input values
    failed = zb.json("evaluate", "decision", "invoiceAssignApprover", "--variables", unknown)
    assert failed["failedDecisionId"] == "invoiceClassification"

    finished = zb.json(
        "create", "instance", process_id, "--withResult", "--variables",
        json.dumps({"amount": 5000, "invoiceCategory": "Misc"}),
    )  # fmt: skip
    assert json.loads(finished["variables"])["approverGroups"] == ["management"]
