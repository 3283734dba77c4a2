"""3 nodes, 3 partitions, R=2: every node lacks one partition, so it must forward (no local
replica, leader known only from its peers' reports); a partition that loses its majority
answers 503 with its id after the bounded wait, while the others keep serving."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cluster_helpers import JOB_XML, PROCESS_WITH_JOB
from support.cluster import LocalCluster

from zennode.engine.keys import make_key, partition_of
from zennode.service import key_partition
from zennode.tools import launcher

pytestmark = pytest.mark.timeout(180)

LEADER_WAIT_MS = 1500
REQUEST_TIMEOUT_MS = 4000
QUEUE_MAX = 1  # commands pending per partition: any two at once meet backpressure


@pytest.fixture(scope="module")
def partial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    limits = {
        "leader_wait_ms": LEADER_WAIT_MS,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "command_queue_max": QUEUE_MAX,
    }
    directory = tmp_path_factory.mktemp("partial")
    with LocalCluster(directory, 3, 3, replication=2, extra={"limits": limits}) as started:
        started.deploy(JOB_XML, node=3)
        yield started


def idempotency_key_for(partition_id: int, prefix: str) -> str:
    """An Idempotency-Key whose creation goes to `partition_id` (`key_partition`)."""
    return next(
        key
        for key in (f"{prefix}-{i}" for i in range(1000))
        if key_partition(key, [1, 2, 3]) == partition_id
    )


def test_nodes_without_a_replica_forward_every_call(partial: LocalCluster) -> None:
    topology = partial.topology()
    hosted = {n: set() for n in (1, 2, 3)}
    for p in topology["partitions"]:
        assert len(p["replicas"]) == 2
        for r in p["replicas"]:
            hosted[r["node"]].add(p["id"])
    assert all(len(parts) == 2 for parts in hosted.values())
    for node in (1, 2, 3):
        keys = []
        for pid in (1, 2, 3):  # a node puts keyless creations on partitions it leads: aim
            response = partial.call(
                "POST",
                node,
                "/v1/process-instances",
                json={"bpmnProcessId": PROCESS_WITH_JOB},
                headers={"Idempotency-Key": idempotency_key_for(pid, f"n{node}")},
            )
            assert response.status_code == 201, response.text
            keys.append(int(response.json()["processInstanceKey"]))
        assert {partition_of(k) for k in keys} == {1, 2, 3}  # incl. the one it lacks
        for key in keys:
            for reader in (1, 2, 3):
                got = partial.call("GET", reader, f"/v1/process-instances/{key}")
                assert got.status_code == 200, got.text
            jobs = partial.call("GET", node, f"/v1/jobs?processInstanceKey={key}").json()
            (job,) = [j for p in jobs["partitions"] for j in p["items"]]
            done = partial.call("POST", node, f"/v1/jobs/{job['key']}/complete", json={})
            assert done.status_code in (200, 204), done.text
        listed = partial.call("GET", node, "/v1/jobs?size=1").json()
        assert [p["partition"] for p in listed["partitions"]] == [1, 2, 3]


def test_backpressure_crosses_forwarding_as_503_with_retry_after(partial: LocalCluster) -> None:
    leaders = partial.wait_balanced()
    forwarded = {p for p, leader in leaders.items() if leader != 1}
    assert forwarded  # node 1 leads one partition at most; the burst goes through node 1

    def burst(_: int) -> list[httpx.Response]:
        # Idempotency keys spread the creations over every partition (keyless ones would
        # all go to the partition node 1 leads, never forwarded).
        with httpx.Client(timeout=30.0) as client:  # keep-alive: requests overlap more
            return [
                client.post(
                    partial.urls[1] + "/v1/process-instances",
                    json={"bpmnProcessId": PROCESS_WITH_JOB},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                for _ in range(6)
            ]

    responses: list[httpx.Response] = []
    pushed_back: list[httpx.Response] = []
    for _attempt in range(5):  # bursts until one overlaps on a leader (bounded)
        with ThreadPoolExecutor(max_workers=32) as pool:
            responses += [r for batch in pool.map(burst, range(32)) for r in batch]
        refused = [r for r in responses if r.status_code == 503]
        pushed_back = [r for r in refused if r.json()["code"] == "RESOURCE_EXHAUSTED"]
        if pushed_back:
            break
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 503}, statuses
    assert pushed_back, statuses
    assert all(r.headers.get("retry-after") == "1" for r in pushed_back)
    assert {r.json()["partition"] for r in pushed_back} & forwarded  # refused on another node
    for r in responses:
        if r.status_code == 201:  # acknowledged means it exists
            key = r.json()["processInstanceKey"]
            assert partial.call("GET", 2, f"/v1/process-instances/{key}").status_code == 200


def test_a_partition_without_a_majority_is_503_with_its_id_and_the_others_serve(
    partial: LocalCluster,
) -> None:
    # Partition 2 lives on nodes 2 and 3; stopping node 3 leaves it 1 of 2: no majority.
    config = launcher.read_cluster(partial.dir)
    assert config["replication_factor"] == 2
    launcher.kill_node(partial.dir, 3)
    try:
        missing_job = make_key(2, 2**40)
        started = time.monotonic()
        refused = partial.call("POST", 1, f"/v1/jobs/{missing_job}/complete", retry_s=0, json={})
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.json()["partition"] == 2
        # The old leader (node 2) steps down after leader_fallback_s (3 s) without a majority.
        # A command it had already put in its log waits out request_timeout_ms; one still
        # queued fails at the step-down and is re-routed until leader_wait_ms. Either way the
        # answer is bounded (plus slack for a busy machine).
        bound_s = max(3.0 + LEADER_WAIT_MS / 1000, REQUEST_TIMEOUT_MS / 1000) + 4
        assert waited < bound_s, waited
        # Partition 1 (nodes 1, 2) still has its majority and serves through node 1.
        served = partial.call("POST", 1, f"/v1/jobs/{make_key(1, 2**40)}/complete", json={})
        assert served.status_code == 404, served.text
    finally:
        launcher.start_node(partial.dir, 3)
        launcher.wait_for_leaders(partial.dir, 60)
