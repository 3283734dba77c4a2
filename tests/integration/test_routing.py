"""Node routing and availability with a partition that has no leader (a controllable stand-in).

A real single-replica partition elects itself within a second, so "no leader" and "queue full"
cannot be produced on demand with it; the stand-in below has the `Partition` surface the node
uses and lets the test decide leadership and backpressure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import httpx
import pytest
from support.nodes import NodeThread, node_config
from support.waits import wait_until

from zennode.config import Member
from zennode.engine.commands import CompleteJob
from zennode.engine.outcome import Outcome
from zennode.errors import Backpressure, ConfigError, Unavailable
from zennode.node import Node

LEADER_WAIT_MS = 300


class StandInPartition:
    def __init__(self, partition_id: int) -> None:
        self.partition_id = partition_id
        self.is_leader = False
        self.full = False
        self.submitted: list[dict[str, Any]] = []

    @property
    def leader_address(self) -> str | None:
        return "127.0.0.1:1" if self.is_leader else None

    @property
    def leader_epoch(self) -> int | None:
        """What the node's role watcher reads: one term of leadership while it leads."""
        return 1 if self.is_leader else None

    def submit(self, command: dict[str, Any]) -> Future[Outcome]:
        if self.full:
            raise Backpressure("queue full", partition_id=self.partition_id)
        self.submitted.append(command)
        future: Future[Outcome] = Future()
        result = {
            "processInstanceKey": self.partition_id << 51 | 7,
            "processDefinitionKey": 1 << 51 | 1,
            "bpmnProcessId": command.get("bpmnProcessId"),
            "version": 1,
        }
        future.set_result(Outcome(result=result))
        return future

    def status(self) -> dict[str, Any]:
        return {"pending_commands": 0}

    def stop(self) -> None:
        self.is_leader = False


class NoEngine:
    def validate_deploy(self, xml: bytes, now_ms: int) -> None:
        return None


def start_with_stand_ins(tmp_path: Any, partitions: int = 2) -> tuple[NodeThread, dict]:
    stand_ins: dict[int, StandInPartition] = {}

    def factory(config: Any, pid: int, on_events: Callable) -> tuple[Any, Any]:
        stand_ins[pid] = StandInPartition(pid)
        return NoEngine(), stand_ins[pid]

    config = node_config(tmp_path, partitions, leader_wait_ms=LEADER_WAIT_MS)
    runner = NodeThread(Node(config, serve_grpc=False, partition_factory=factory))
    runner._thread.start()  # start without waiting for readiness: there is no leader yet
    runner.call(runner.node.start())
    return runner, stand_ins


def test_no_leader_is_503_with_the_partition_after_a_bounded_wait(tmp_path: Any) -> None:
    runner, stand_ins = start_with_stand_ins(tmp_path)
    roles: list[tuple[int, bool]] = []
    runner.node.cluster.add_role_listener(lambda pid, leader: roles.append((pid, leader)))
    try:
        with httpx.Client(base_url=runner.url, timeout=10) as api:
            assert api.get("/system/health/live").status_code == 200
            assert api.get("/system/health/ready").status_code == 503

            began = time.monotonic()
            response = api.post("/v1/process-instances", json={"bpmnProcessId": "x"})
            waited = time.monotonic() - began
            assert response.status_code == 503, response.text
            body = response.json()
            assert body["code"] == "UNAVAILABLE" and body["partition"] in (1, 2)
            assert LEADER_WAIT_MS / 1000 <= waited < LEADER_WAIT_MS / 1000 + 2

            stand_ins[1].is_leader = True
            wait_until(lambda: (1, True) in roles, 10.0, "role listener")
            assert api.get("/system/health/ready").status_code == 503  # partition 2 still none
            stand_ins[2].is_leader = True
            wait_until(lambda: api.get("/system/health/ready").status_code == 200, 10.0, "ready")

            created = api.post("/v1/process-instances", json={"bpmnProcessId": "x"})
            assert created.status_code == 201, created.text
            sent = [c for p in stand_ins.values() for c in p.submitted]
            assert sent[-1]["type"] == "create_instance" and sent[-1]["bpmnProcessId"] == "x"

            stand_ins[1].full = stand_ins[2].full = True
            refused = api.post("/v1/process-instances", json={"bpmnProcessId": "x"})
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert refused.json()["code"] == "RESOURCE_EXHAUSTED"
    finally:
        runner.stop()


def test_submit_to_a_partition_that_does_not_exist_is_not_found_at_once(tmp_path: Any) -> None:
    runner, stand_ins = start_with_stand_ins(tmp_path, partitions=1)
    try:
        began = time.monotonic()
        try:
            runner.call(runner.node.cluster.submit(5, CompleteJob(job_key=5 << 51)))
        except Exception as exc:  # noqa: BLE001 - the type is what is checked
            error = exc
        assert type(error).__name__ == "NotFound"
        assert time.monotonic() - began < 0.2
        try:
            runner.call(runner.node.cluster.submit(1, CompleteJob(job_key=1 << 51)))
        except Unavailable as exc:
            assert exc.partition_id == 1
        else:
            raise AssertionError("a partition without a leader must be Unavailable")
    finally:
        runner.stop()


def test_a_second_node_on_the_same_data_dir_is_refused(tmp_path: Any) -> None:
    runner, _ = start_with_stand_ins(tmp_path, partitions=1)
    try:
        other = dataclasses.replace(runner.node.config, members=(Member(),))  # other ports
        second = Node(other, serve_http=False, serve_grpc=False, partition_factory=None)
        with pytest.raises(ConfigError, match="in use by another zennode process"):
            asyncio.run(second.start())
    finally:
        runner.stop()
