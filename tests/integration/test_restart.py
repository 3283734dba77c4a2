"""Restart: a `zennode start` process is stopped with SIGTERM and started again on the same data.

Everything acknowledged before the stop is still there, and nothing is applied twice: the Raft
journal is replayed on start, and the stored applied index makes the replay a no-op.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from support import bpmn
from support.nodes import NodeProcess
from support.ports import reserve_node
from support.rest import RestClient

STOP_TIMEOUT_S = 20.0


@contextmanager
def zennode_process(data_dir: Path, port_base: int, log: Path) -> Iterator[httpx.Client]:
    """Run `zennode start` until the block ends, then SIGTERM it and check it exits cleanly."""
    with NodeProcess(data_dir, log, port_base=port_base) as node, RestClient(node.url) as client:
        yield client
        assert node.stop(signal.SIGTERM, timeout_s=STOP_TIMEOUT_S) == 0, node.output()


def jobs(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    page = client.get("/v1/jobs", params={"size": 100, **params}).json()
    return [job for part in page["partitions"] for job in part["items"]]


def snapshot(client: httpx.Client, instance_keys: list[int]) -> dict[str, Any]:
    return {
        "definitions": client.get("/v1/process-definitions", params={"size": 100}).json(),
        "instances": [client.get(f"/v1/process-instances/{k}").json() for k in instance_keys],
        "jobs": sorted(jobs(client), key=lambda j: j["key"]),
    }


def test_state_survives_sigterm_and_restart_without_double_apply(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port_base = reserve_node(1).base
    log = tmp_path / "zennode.log"

    with zennode_process(data_dir, port_base, log) as api:
        xml = bpmn.one_task("restart-order", "restart-job")
        deployed = api.post("/v1/process-definitions", content=xml)
        assert deployed.status_code == 201, deployed.text
        keys = []
        for i in range(6):
            created = api.post(
                "/v1/process-instances",
                json={"bpmnProcessId": "restart-order", "variables": {"i": i}},
            )
            assert created.status_code == 201, created.text
            keys.append(created.json()["processInstanceKey"])
        waiting = sorted(jobs(api, jobType="restart-job"), key=lambda j: j["key"])
        assert len(waiting) == 6
        for job in waiting[:3]:
            done = api.post(
                f"/v1/jobs/{job['key']}/complete", json={"variables": {"done": job["key"]}}
            )
            assert done.status_code == 204, done.text
        before = snapshot(api, keys)
        assert [i["state"] for i in before["instances"]] == ["completed"] * 3 + ["active"] * 3

    with zennode_process(data_dir, port_base, log) as api:
        after = snapshot(api, keys)
        assert after == before
        # the same definition again is still a duplicate, not version 2
        again = api.post("/v1/process-definitions", content=xml)
        assert again.status_code == 200 and again.json() == deployed.json()
        # a completed job stays completed: a replayed completion would have failed or doubled
        completed = waiting[0]
        assert_conflict = api.post(f"/v1/jobs/{completed['key']}/complete", json={})
        assert assert_conflict.status_code == 409, assert_conflict.text
        # new keys continue after the old ones (the key counter was not rolled back or replayed)
        created = api.post("/v1/process-instances", json={"bpmnProcessId": "restart-order"})
        assert created.status_code == 201
        new_key = created.json()["processInstanceKey"]
        assert new_key > max(keys)
        # the remaining jobs can still be completed, once
        for job in waiting[3:]:
            assert api.post(f"/v1/jobs/{job['key']}/complete", json={}).status_code == 204
        states = [api.get(f"/v1/process-instances/{k}").json()["state"] for k in keys]
        assert states == ["completed"] * 6
        status = api.get("/system/status").json()
        partition = status["partitions"][0]
        final = snapshot(api, keys)

    with zennode_process(data_dir, port_base, log) as api:
        assert snapshot(api, keys) == final
        restarted = api.get("/system/status").json()["partitions"][0]
        # the journal was replayed and every replayed entry was skipped, not applied again
        assert restarted["entries_skipped"] >= 1
        assert restarted["applied_index"] >= partition["applied_index"]
