"""Metrics: the engine events they rely on, the listener, and a scrape of a running node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.bpmn import one_task
from support.nodes import NodeThread, node_config
from support.waits import wait_until

from zennode.engine import Engine
from zennode.engine.storage import MemoryStore
from zennode.metrics import NodeMetrics
from zennode.node import Node
from zennode.worker import Worker

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana-dashboard.json"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample as {(name, sorted labels): value}."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


# ------------------------------------------------------------- engine events


class EngineHarness:
    def __init__(self) -> None:
        self.engine = Engine(1)
        self.store = MemoryStore()
        self.events: list[dict[str, Any]] = []

    def apply(self, now_ms: int, **command: Any) -> dict[str, Any]:
        with self.store.write() as txn:
            outcome = self.engine.apply(txn, {"now_ms": now_ms, **command})
        self.events.extend(outcome.events)
        return outcome.unwrap()


def test_engine_events_carry_activation_timeout_and_lifetime() -> None:
    h = EngineHarness()
    h.apply(1_000, type="deploy", xml=one_task("p", "work"))
    h.apply(1_000, type="create_instance", bpmnProcessId="p", variables={})
    h.apply(1_250, type="activate_jobs", jobType="work", worker="w", timeoutMs=100, maxJobs=5)
    [activated] = [e for e in h.events if e["event"] == "job_activated"]
    assert activated["createdAt"] == 1_000 and activated["activatedAt"] == 1_250
    assert activated["type"] == "work" and activated["worker"] == "w"
    h.apply(1_400, type="timeout_jobs")
    [timed_out] = [e for e in h.events if e["event"] == "job_activatable"]
    assert timed_out["reason"] == "timeout"
    h.apply(1_500, type="complete_job", jobKey=activated["jobKey"], variables={})
    [completed] = [e for e in h.events if e["event"] == "job_completed"]
    assert completed["createdAt"] == 1_000
    [ended] = [e for e in h.events if e["event"] == "instance_completed"]
    assert ended["createdAt"] == 1_000 and ended["endedAt"] == 1_500


def test_listener_counts_events_by_partition_and_type() -> None:
    metrics = NodeMetrics()
    created = {"event": "job_created", "jobKey": 1, "type": "a", "job": {"createdAt": 1_000}}
    metrics.on_events(2, [{"event": "instance_created", "processInstanceKey": 9}, created])
    metrics.on_events(
        2,
        [
            {"event": "job_activated", "type": "a", "createdAt": 1_000, "activatedAt": 1_040},
            {"event": "job_activatable", "type": "a", "reason": "timeout"},
            {"event": "job_activatable", "type": "a", "reason": "released"},
            {"event": "incident_created", "incidentKey": 5},
            {"event": "incident_resolved", "incidentKey": 5},
            {"event": "incident_created", "incidentKey": 6},
            {"event": "instance_completed", "createdAt": 1_000, "endedAt": 3_000},
        ],
    )
    s = parse(metrics.render()[0].decode())
    job = "zennode_job_events_total"
    assert value(s, job, partition="2", type="a", action="created") == 1
    assert value(s, job, partition="2", type="a", action="activated") == 1
    assert value(s, job, partition="2", type="a", action="timed_out") == 1
    assert value(s, job, partition="2", type="a", action="completed") == 0
    latency = "zennode_job_activation_latency_seconds"
    assert value(s, f"{latency}_count", partition="2") == 1
    assert value(s, f"{latency}_sum", partition="2") == pytest.approx(0.04)
    assert value(s, f"{latency}_bucket", partition="2", le="0.05") == 1
    assert value(s, f"{latency}_bucket", partition="2", le="0.025") == 0
    assert value(s, "zennode_process_instances_total", partition="2", action="started") == 1
    assert value(s, "zennode_process_instances_total", partition="2", action="completed") == 1
    assert value(s, "zennode_process_instances_active", partition="2") == 0
    duration = "zennode_process_instance_duration_seconds"
    assert value(s, f"{duration}_sum", partition="2") == pytest.approx(2.0)
    assert value(s, "zennode_incident_events_total", partition="2", action="created") == 2
    assert value(s, "zennode_incidents_open", partition="2") == 1


def test_job_type_labels_are_bounded() -> None:
    metrics = NodeMetrics()
    from zennode import metrics as module

    events = [{"event": "job_created", "type": f"t{i}"} for i in range(module.JOB_TYPES_MAX + 5)]
    metrics.on_events(1, events)
    s = parse(metrics.render()[0].decode())
    types = {dict(lab)["type"] for (n, lab) in s if n == "zennode_job_events_total"}
    assert len(types) == module.JOB_TYPES_MAX + 1 and "other" in types
    assert total(s, "zennode_job_events_total") == module.JOB_TYPES_MAX + 5
    # and the node's memory with them: a thousand more names counted as "other" cache nothing
    metrics.on_events(1, [{"event": "job_created", "type": f"u{i}"} for i in range(1000)])
    assert len(metrics._job_children) == module.JOB_TYPES_MAX + 1


def test_two_nodes_in_one_process_keep_their_own_numbers() -> None:
    a, b = NodeMetrics(), NodeMetrics()
    a.count_forwarded(1)
    a.count_rejected(1)
    s_a, s_b = (parse(m.render()[0].decode()) for m in (a, b))
    assert value(s_a, "zennode_forwarded_requests_total", partition="1") == 1
    assert value(s_a, "zennode_commands_rejected_total", partition="1", reason="backpressure") == 1
    assert total(s_b, "zennode_forwarded_requests_total") == 0


# ------------------------------------------------------------- a running node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeThread]:
    config = node_config(tmp_path / "node", partitions=2)
    instance = Node(config, serve_grpc=True)

    @instance.task_handler("internal")
    def internal(job: dict[str, Any]) -> dict[str, Any]:
        return {"done": True}

    @instance.task_handler("broken")
    def broken(job: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("always fails")

    runner = NodeThread(instance)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@contextlib.contextmanager
def running_worker(runner: NodeThread, worker: Worker) -> Iterator[None]:
    task = asyncio.run_coroutine_threadsafe(worker.run(), runner.loop)
    try:
        runner.call(worker.wait_connected(timeout=10), timeout=15)
        yield
    finally:
        runner.call(worker.stop(), timeout=15)
        with contextlib.suppress(Exception):
            task.result(timeout=10)


def test_scrape_moves_as_work_is_done(node: NodeThread) -> None:
    with httpx.Client(base_url=node.url, timeout=15.0) as http:
        first = parse(http.get("/metrics").text)
        assert value(first, "zennode_raft_leader", partition="1") == 1
        assert value(first, "zennode_raft_role", partition="2") == 2
        assert value(first, "zennode_raft_term", partition="1") >= 1
        assert value(first, "zennode_lmdb_size_bytes", partition="1") > 0
        assert value(first, "zennode_job_streams_open") == 0
        assert value(first, "zennode_internal_jobs_queued") == 0
        assert total(first, "zennode_job_events_total") == 0
        same = parse(http.get("/system/metrics").text)
        assert value(same, "zennode_raft_leader", partition="2") == 1

        for pid, job_type, retries in (("p_int", "internal", 3), ("p_ext", "external", 3)):
            http.post("/v1/process-definitions", content=one_task(pid, job_type, retries))
        http.post("/v1/process-definitions", content=one_task("p_bad", "broken", 1))
        grpc_address = f"127.0.0.1:{node.node.config.ports.grpc}"
        worker = Worker([grpc_address], client_id="metrics-test")
        worker.handler("external")(lambda job: {"seen": True})
        keys = []
        with running_worker(node, worker):
            for pid in ["p_int"] * 4 + ["p_ext"] * 3:
                reply = http.post("/v1/process-instances", json={"bpmnProcessId": pid})
                keys.append(reply.json()["processInstanceKey"])
            for key in keys:
                wait_until(
                    lambda key=key: (
                        http.get(f"/v1/process-instances/{key}").json()["state"] == "completed"
                    ),
                    10.0,
                    f"instance {key} completed",
                )
            mid = parse(http.get("/metrics").text)
            assert value(mid, "zennode_job_streams_open") == 1
        bad = http.post("/v1/process-instances", json={"bpmnProcessId": "p_bad"}).json()
        incident = wait_until(
            lambda: _open_incident(http, bad["processInstanceKey"]), 10.0, "an incident"
        )
        assert http.post(f"/v1/incidents/{incident}/resolve").status_code < 300
        wait_until(
            lambda: _open_incident(http, bad["processInstanceKey"]) not in (None, incident),
            10.0,
            "the incident raised again",
        )

        assert ("zennode_snapshot_age_seconds", (("partition", "1"),)) not in first
        node.node.cluster.local_partitions[1].force_compaction()  # writes the first snapshot
        wait_until(
            lambda: (
                value(
                    parse(http.get("/metrics").text), "zennode_snapshot_age_seconds", partition="1"
                )
                > 0
            ),
            10.0,
            "a snapshot age",
        )
        after_text = http.get("/metrics").text
        after = parse(after_text)
    assert dashboard_metrics() <= exposed_metrics(after_text), "dashboard uses unknown metrics"
    job = "zennode_job_events_total"
    assert total(after, job, type="internal", action="created") == 4
    assert total(after, job, type="internal", action="completed") == 4
    assert total(after, job, type="external", action="activated") == 3
    assert total(after, job, type="external", action="completed") == 3
    assert total(after, job, type="broken", action="failed") >= 2
    assert total(after, "zennode_process_instances_total", action="started") == 8
    assert total(after, "zennode_process_instances_total", action="completed") == 7
    assert total(after, "zennode_process_instances_active") == 1
    assert total(after, "zennode_incident_events_total", action="created") == 2
    assert total(after, "zennode_incident_events_total", action="resolved") == 1
    assert total(after, "zennode_incidents_open") == 1
    assert total(after, "zennode_job_activation_latency_seconds_count") == 3
    assert total(after, "zennode_job_lifetime_seconds_count") == 7
    assert total(after, "zennode_process_instance_duration_seconds_count") == 7
    assert total(after, "zennode_jobs_pushed_total") == 3
    assert total(after, "zennode_batch_size_commands_count") > total(
        first, "zennode_batch_size_commands_count"
    )
    assert total(after, "zennode_batch_apply_seconds_sum") > 0
    # raft.fsync is on by default: the work above was group-committed to disk.
    assert total(after, "zennode_raft_fsync_seconds_count") > total(
        first, "zennode_raft_fsync_seconds_count"
    )
    assert value(after, "zennode_raft_applied_index", partition="1") > value(
        first, "zennode_raft_applied_index", partition="1"
    )
    assert value(after, "zennode_raft_commit_index", partition="1") >= value(
        after, "zennode_raft_applied_index", partition="1"
    )
    assert value(after, "zennode_command_queue_depth", partition="1") >= 0


def exposed_metrics(text: str) -> set[str]:
    """Every metric family named in a scrape, with the suffixes Prometheus queries use."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
            names.update(name + suffix for suffix in suffixes.get(kind, []))
    return names


def dashboard_metrics() -> set[str]:
    """The zennode_* names the Grafana dashboard's queries use."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs, "the dashboard has no queries"
    return {name for expr in exprs for name in re.findall(r"zennode_[a-z_]+", expr)}


def _open_incident(http: httpx.Client, instance_key: int) -> int | None:
    body = http.get("/v1/incidents", params={"processInstanceKey": instance_key}).json()
    for part in body["partitions"]:
        for item in part["items"]:
            if item.get("state") == "active":
                return int(item["key"])
    return None


def test_rejected_commands_are_counted(tmp_path: Path) -> None:
    """Backpressure (a full command queue) is counted before the 503 goes out."""
    config = node_config(tmp_path / "node", partitions=1, command_queue_max=1)
    runner = NodeThread(Node(config, serve_grpc=False))
    runner.start()
    try:

        async def flood() -> list[Any]:
            node = runner.node
            await node.service.deploy(one_task("p", "nobody").encode())
            calls = [node.service.create_instance(bpmn_process_id="p") for _ in range(50)]
            return await asyncio.gather(*calls, return_exceptions=True)

        results = runner.call(flood(), timeout=30)
        rejected = [r for r in results if type(r).__name__ == "Backpressure"]
        assert rejected, "a queue of one should refuse some of 50 concurrent commands"
        s = parse(runner.node.metrics.render()[0].decode())
        assert value(
            s, "zennode_commands_rejected_total", partition="1", reason="backpressure"
        ) == len(rejected)
    finally:
        runner.stop()
