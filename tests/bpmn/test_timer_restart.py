"""A timer that falls due while its partition has no leader fires once when a leader returns."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from support.bpmn import bpmn, chain, end, service, start, timer_catch
from support.nodes import NodeThread, node_config
from support.waits import wait_until

from zennode.node import Node

MODEL = bpmn(
    start()
    + timer_catch("wait", "duration", "PT1S")
    + service("after", "after")
    + end()
    + chain("start", "wait", "after", "end")
)


def test_timer_due_during_downtime_fires_once_after_restart(tmp_path: Path) -> None:
    config = node_config(tmp_path / "node", partitions=2)
    first = NodeThread(Node(config, serve_grpc=False))
    first.start()
    try:
        with httpx.Client(base_url=first.url, timeout=15.0) as client:
            assert client.post("/v1/process-definitions", content=MODEL).status_code == 201
            keys = [
                client.post("/v1/process-instances", json={"bpmnProcessId": "p"}).json()[
                    "processInstanceKey"
                ]
                for _ in range(4)
            ]
            jobs = client.get("/v1/jobs", params={"jobType": "after"}).json()
            assert jobs["count"] == 0  # stopped before any timer could fire
    finally:
        first.stop()
    time.sleep(1.5)  # every timer falls due while no node runs
    second = NodeThread(Node(config, serve_grpc=False))
    second.start()
    try:
        with httpx.Client(base_url=second.url, timeout=15.0) as client:

            def after_jobs() -> list[dict]:
                pages = client.get("/v1/jobs", params={"jobType": "after", "size": 100}).json()
                return [job for page in pages["partitions"] for job in page["items"]]

            wait_until(lambda: len(after_jobs()) == len(keys), 5.0, "overdue timers to fire")
            time.sleep(0.5)  # the driver keeps polling: nothing fires a second time
            jobs = after_jobs()
            assert sorted(job["processInstanceKey"] for job in jobs) == sorted(keys)
    finally:
        second.stop()
