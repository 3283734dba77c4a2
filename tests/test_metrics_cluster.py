"""Metrics of a real 3-node cluster (2 partitions, R=3): scrape every node, do work through all
of them, scrape again, and check that the numbers moved where they should."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.cluster import LocalCluster
from support.waits import eventually

from zennode.tools.bench.models import one_task_model
from zennode.worker import Worker

NODES = 3
PARTITIONS = 2
INSTANCES = 12
JOB_TYPE = "metrics-cluster-work"
WAIT_S = 30.0

Sample = tuple[str, dict[str, str], float]


def scrape(url: str) -> list[Sample]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    want = labels.items()
    return sum(v for n, lab, v in samples if n == name and want <= lab.items())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    directory = tmp_path_factory.mktemp("metrics-cluster")
    with LocalCluster(directory, NODES, PARTITIONS, 3) as started:
        yield started


def post(cluster: LocalCluster, node: int, path: str, **kwargs: Any) -> httpx.Response:
    """POST, retrying 503 (no leader yet, backpressure) for a bounded time, like a client."""
    reply = cluster.call("POST", node, path, retry_s=WAIT_S, **kwargs)
    reply.raise_for_status()
    return reply


async def run_workers_until(grpc_addresses: list[str], done: Any) -> None:
    """One SDK worker per node (jobs are pushed by the node that leads their partition)."""
    workers = []
    for i, address in enumerate(grpc_addresses):
        worker = Worker([address], client_id=f"metrics-cluster-{i}")
        worker.handler(JOB_TYPE)(lambda job: {"ok": True})
        workers.append(worker)
    tasks = [asyncio.ensure_future(worker.run()) for worker in workers]
    try:
        for worker in workers:
            await worker.wait_connected(timeout=15)
        await eventually(lambda: asyncio.to_thread(done), WAIT_S, "instances to complete", 0.2)
    finally:
        for worker in workers:
            await worker.stop(timeout=5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)


def test_every_node_reports_and_the_numbers_move(cluster: LocalCluster) -> None:
    urls = list(cluster.urls.values())
    before = {url: scrape(url) for url in urls}
    for pid in map(str, range(1, PARTITIONS + 1)):
        # Every node hosts a replica of every partition (R=3) and says so; one of them leads.
        for samples in before.values():
            terms = [
                v for n, lab, v in samples if n == "zennode_raft_term" and lab == {"partition": pid}
            ]
            assert len(terms) == 1 and terms[0] >= 1
        assert sum(total(s, "zennode_raft_leader", partition=pid) for s in before.values()) == 1

    post(cluster, 1, "/v1/process-definitions", content=one_task_model("metrics_cluster", JOB_TYPE))
    keys = [
        post(
            cluster,
            i % NODES + 1,
            "/v1/process-instances",
            json={"bpmnProcessId": "metrics_cluster"},
        ).json()["processInstanceKey"]
        for i in range(INSTANCES)
    ]

    def all_completed() -> bool:
        states = [
            httpx.get(f"{urls[0]}/v1/process-instances/{key}", timeout=10).json().get("state")
            for key in keys
        ]
        return all(state == "completed" for state in states)

    asyncio.run(run_workers_until(list(cluster.grpc.values()), all_completed))
    after = {url: scrape(url) for url in urls}

    def moved(name: str, **labels: str) -> float:
        return sum(total(after[u], name, **labels) - total(before[u], name, **labels) for u in urls)

    assert moved("zennode_process_instances_total", action="started") == INSTANCES
    assert moved("zennode_process_instances_total", action="completed") == INSTANCES
    assert moved("zennode_job_events_total", type=JOB_TYPE, action="created") == INSTANCES
    assert moved("zennode_job_events_total", type=JOB_TYPE, action="activated") == INSTANCES
    assert moved("zennode_job_events_total", type=JOB_TYPE, action="completed") == INSTANCES
    assert moved("zennode_process_instance_duration_seconds_count") == INSTANCES
    assert moved("zennode_jobs_pushed_total") == INSTANCES
    assert moved("zennode_forwarded_requests_total") > 0  # node 3 leads nothing: forwards
    for url in urls:  # followers apply every batch too
        assert total(after[url], "zennode_batch_size_commands_count") > total(
            before[url], "zennode_batch_size_commands_count"
        )
        assert total(after[url], "zennode_raft_applied_index") > total(
            before[url], "zennode_raft_applied_index"
        )
