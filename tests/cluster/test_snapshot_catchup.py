"""A wiped follower of a real 3-node cluster catches up through the snapshot path.

The leaders compact their Raft log every ~64 KiB, so a replica whose data directory is gone
cannot be sent the log: it must receive the snapshot (zennode.cluster.snapshot_transfer, in
1 MiB chunks, checksum-verified) and install it. The follower's status counts what it
received and installed; the topology's digests then agree on every replica.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.bpmn import one_task
from support.cluster import LocalCluster

from zennode.tools import launcher

CHUNK = 1024 * 1024  # PartitionSettings.snapshot_chunk_bytes
EXTRA = {"raft": {"compaction_bytes": 64 * 1024}, "limits": {"request_bytes_max": 1 << 20}}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    directory = tmp_path_factory.mktemp("snapcatchup")
    with LocalCluster(directory, nodes=3, partitions=1, replication=3, extra=EXTRA) as started:
        yield started


def _partition_status(cluster: LocalCluster, node: int) -> dict:
    status = cluster.call("GET", node, "/system/status").json()
    [partition] = [p for p in status["partitions"] if p["partition"] == 1]
    return partition


def test_wiped_follower_catches_up_by_snapshot(small: LocalCluster) -> None:
    small.deploy(one_task("snapcatch", "nobody-works-this"))
    leader = small.leader_of(1)
    blob = "v" * 40_000
    for _ in range(120):  # ~5 MB of live state: a snapshot of several chunks
        created = small.call(
            "POST",
            leader,
            "/v1/process-instances",
            json={"bpmnProcessId": "snapcatch", "variables": {"blob": blob}},
        )
        assert created.status_code == 201, created.text
    small.wait_converged(timeout_s=60)

    follower = next(n for n in sorted(small.urls) if n != small.leader_of(1))
    data = Path(launcher.read_cluster(small.dir)["nodes"][follower - 1]["config"]).parent
    launcher.kill_node(small.dir, follower)
    shutil.rmtree(data / f"node{follower}" / "data")
    launcher.start_node(small.dir, follower)
    small.wait_ready(follower)
    # Load goes on while it catches up.
    for _ in range(20):
        created = small.call(
            "POST", leader, "/v1/process-instances", json={"bpmnProcessId": "snapcatch"}
        )
        assert created.status_code == 201, created.text

    topology = small.wait_converged(timeout_s=90)
    [partition] = topology["partitions"]
    assert len({r["digest"] for r in partition["replicas"]}) == 1
    rebuilt = _partition_status(small, follower)
    assert rebuilt["snapshots_installed"] >= 1
    transfer = rebuilt["snapshot_transfer"]
    assert transfer["received_bytes_received"] > CHUNK  # it came in several chunks
    assert transfer["received_partial_bytes"] == 0  # the partial became the dump
    assert rebuilt["lmdb_bytes"] >= 4_000_000
    sent = sum(
        _partition_status(small, n)["snapshot_transfer"]["sent_completed"]
        for n in sorted(small.urls)
        if n != follower
    )
    assert sent >= 1
