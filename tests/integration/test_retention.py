"""History retention on a real node: ended instances stay readable until their time to live
passed, then the partition leader's retention driver deletes them (404) through replicated
`purge_history` commands; `historyTimeToLive` on create overrides `retention.history_ttl`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families
from support import bpmn
from support.nodes import NodeThread
from support.rest import RestClient
from support.waits import wait_until

from zennode.config import Config, Retention

WAIT_S = 20.0


def _retention(ttl: str) -> Callable[[Config], Config]:
    def configure(config: Config) -> Config:
        return dataclasses.replace(
            config, retention=Retention(history_ttl=ttl, purge_interval_ms=50, purge_chunk=3)
        )

    return configure


def _create(api: RestClient, **body: object) -> int:
    created = api.post("/v1/process-instances", json={"bpmnProcessId": "ret", **body})
    assert created.status_code == 201, created.text
    return int(created.json()["processInstanceKey"])


def _complete_job_of(api: RestClient, key: int) -> int:
    def job() -> dict | None:
        page = api.get("/v1/jobs", params={"size": 100}).json()
        found = [
            j
            for part in page["partitions"]
            for j in part["items"]
            if j["processInstanceKey"] == key and j["state"] == "active"
        ]
        return found[0] if found else None

    job_key = int(wait_until(job, WAIT_S, f"the job of instance {key}")["key"])
    done = api.post(f"/v1/jobs/{job_key}/complete", json={"variables": {}})
    assert done.status_code in (200, 204), done.text
    return job_key


def test_ended_instances_are_readable_until_their_ttl_then_404(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    node = start_node(partitions=2, configure=_retention("0"))
    api = client_for(node)
    assert (
        api.post("/v1/process-definitions", content=bpmn.one_task("ret", "ret-job")).status_code
        == 201
    )
    kept = _create(api, historyTimeToLive="1h")
    zenbpm_form = _create(api, historyTimeToLive="P1D")
    defaults = [_create(api) for _ in range(7)]  # more than one chunk of 3 per partition
    for key in [kept, zenbpm_form, *defaults]:
        assert api.get(f"/v1/process-instances/{key}").json()["state"] == "active"
    job_keys = [_complete_job_of(api, key) for key in defaults]
    for key in (kept, zenbpm_form):
        _complete_job_of(api, key)

    def gone() -> bool:
        return all(api.get(f"/v1/process-instances/{k}").status_code == 404 for k in defaults)

    wait_until(gone, WAIT_S, "the ended instances under the default TTL 0 to be deleted")
    for job_key in job_keys:
        assert api.get(f"/v1/jobs/{job_key}").status_code == 404
    for key in (kept, zenbpm_form):  # their own TTL has not passed: still readable
        assert api.get(f"/v1/process-instances/{key}").json()["state"] == "completed"
    assert node.node.retention.deleted == len(defaults)

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
    }
    deleted = [
        v for (name, _), v in samples.items() if name == "zennode_retention_deleted_instances_total"
    ]
    assert sum(deleted) == len(defaults)
    for pid in ("1", "2"):  # this single node leads both partitions; nothing is overdue now
        wait_until(
            lambda pid=pid: _overdue(api, pid) == 0.0, WAIT_S, f"partition {pid} not overdue"
        )


def _overdue(api: RestClient, pid: str) -> float | None:
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "zennode_retention_overdue_seconds" and sample.labels == {
                "partition": pid
            }:
                return float(sample.value)
    return None


def test_a_bad_history_ttl_is_a_400(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node())
    assert (
        api.post("/v1/process-definitions", content=bpmn.one_task("ret", "ret-job")).status_code
        == 201
    )
    for bad in ("soon", "-1d", "P"):
        refused = api.post(
            "/v1/process-instances", json={"bpmnProcessId": "ret", "historyTimeToLive": bad}
        )
        assert refused.status_code == 400, refused.text
        assert "historyTimeToLive" in refused.json()["message"]
