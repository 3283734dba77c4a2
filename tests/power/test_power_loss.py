"""Power loss on a real 3-node cluster (3 partitions, R=3) under load, every node's data dir on
its own lazyfs disk (tests/power/lazyfs.py): a power loss SIGKILLs the node and drops every
write, creation, rename and truncation it had not fsync'd.

- all three replicas lose power at once, then start again: every acknowledged instance, job
  completion and message exists, every instance finishes exactly once, replicas converge;
- one node loses power again and again while the others serve: the same;
- the same with `raft.fsync: false` (page cache only) and the power cut right after the
  acknowledgements: acknowledged instances ARE lost — the proof that this bench can fail.

If FUSE cannot be mounted the tests fail (tests/power/disk.py), they never skip. Numbers are
printed (`POWER SUMMARY`) for docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults.checks import check
from faults.load import Creators, Workers
from support.cluster import LocalCluster

from power import load
from power.disk import PowerDisk
from zennode.tools import launcher

NODES = 3
PARTITIONS = 3
READY_S = 90.0
DRAIN_S = 90.0
SEED = int(os.environ.get("ZENNODE_POWER_SEED", str(random.randrange(1 << 30))))
LOSSES = int(os.environ.get("ZENNODE_POWER_LOSSES", "3"))  # scenario (b)

SUMMARY: dict[str, Any] = {"seed": SEED}

pytestmark = pytest.mark.timeout(600)


class PowerCluster:
    """The cluster of tests/faults on disks that can lose power."""

    def __init__(self, base: Path, fsync: bool, compaction_bytes: int) -> None:
        self.dir = base / "cluster"
        self.disks: dict[int, PowerDisk] = {}
        for node in range(1, NODES + 1):
            data = self.dir / f"node{node}" / "data"
            data.mkdir(parents=True)
            self.disks[node] = PowerDisk(base / f"disk{node}", mountpoint=data)
        for disk in self.disks.values():
            disk.mount()
        try:
            self.cluster = LocalCluster(
                self.dir,
                nodes=NODES,
                partitions=PARTITIONS,
                replication=3,
                timeout_s=READY_S,
                extra={"raft": {"compaction_bytes": compaction_bytes, "fsync": fsync}},
            )
        except BaseException:
            self._unmount()
            raise
        self.urls = self.cluster.urls
        self.cluster.deploy(load.MODEL)

    def lose_power(self, nodes: list[int]) -> dict[int, dict[str, int]]:
        """Cut the power of `nodes` at once (SIGKILL, then drop what is not durable), then
        start them again and wait until they are ready."""
        pids = [launcher.node_pid(self.dir, node) for node in nodes]
        for pid in pids:
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        for node in nodes:
            launcher.kill_node(self.dir, node, signal.SIGKILL)  # reaps it
        undone = {node: self.disks[node].lose_power() for node in nodes}
        for node in nodes:
            launcher.start_node(self.dir, node)
        for node in nodes:
            self.cluster.wait_ready(node)
        return undone

    def close(self) -> None:
        try:
            self.cluster.close()
        finally:
            self._unmount()

    def _unmount(self) -> None:
        for disk in self.disks.values():
            disk.unmount()


@pytest.fixture
def durable_cluster(tmp_path: Path) -> Iterator[PowerCluster]:
    # Small snapshots: power losses also hit snapshot writes, installs and log trims.
    cluster = PowerCluster(tmp_path, fsync=True, compaction_bytes=256 * 1024)
    try:
        yield cluster
    finally:
        cluster.close()
        print(f"\nPOWER SUMMARY {SUMMARY}")


class Load:
    """Creators, SDK workers (job a), REST completer (job b) and message publisher."""

    def __init__(self, cluster: PowerCluster) -> None:
        urls = cluster.urls
        self.publisher = load.Publisher(urls, seed=SEED + 1)
        self.completer = load.Completer(urls, seed=SEED + 2)
        self.creators = Creators(
            urls,
            seed=SEED,
            process_id=load.PROCESS_ID,
            variables=self.publisher.variables,
        )
        self.workers = Workers(list(cluster.cluster.grpc.values()), job_types=(load.JOB_A,))
        self.loops = [self.creators, self.publisher, self.completer]

    def start(self) -> None:
        self.workers.start()
        for loop in self.loops:
            loop.start()

    def down(self, nodes: list[int]) -> None:
        for loop in self.loops:
            loop.down.update(nodes)

    def up(self, nodes: list[int]) -> None:
        for loop in self.loops:
            loop.down.difference_update(nodes)

    def stop_creating(self) -> float:
        self.creators.stop()
        return time.monotonic()

    def stop(self) -> None:
        self.publisher.stop()
        self.completer.stop()
        self.workers.stop()


def verify(cluster: PowerCluster, work: Load, name: str, started: float, ended: float) -> None:
    http, url = cluster.cluster.rest, cluster.cluster.urls[1]
    for node in cluster.urls:
        cluster.cluster.wait_ready(node)
    load.wait_until_done(http, url, DRAIN_S)
    work.stop()
    acked = set(work.creators.acked)
    report = check(http, url, acked, process_id=load.PROCESS_ID, elements=("a", "b"))
    lost_completions = load.lost_completions(http, url, work.completer.acked)
    lost_messages = load.lost_messages(http, url, work.publisher.acked, work.creators.variables_of)
    cluster.cluster.wait_converged()
    times = [started, *work.creators.ack_times(), ended]
    numbers = {
        "instances_acknowledged": len(acked),
        "completions_acknowledged": len(work.completer.acked),
        "messages_acknowledged": len(work.publisher.acked),
        "unacknowledged_creates": work.creators.unacked,
        "instances_total": report.instances,
        "lost_instances": len(report.lost),
        "lost_completions": len(lost_completions),
        "lost_messages": len(lost_messages),
        "applied_twice": len(report.double_applied),
        "not_finished": len(report.not_completed),
        "longest_unavailability_s": round(
            max(b - a for a, b in zip(times, times[1:], strict=False)), 2
        ),
        "power_losses": {n: d.power_losses for n, d in cluster.disks.items() if d.power_losses},
    }
    SUMMARY[name] = numbers
    print(f"\n{name}: {numbers} errors={dict(work.creators.errors)}")
    assert len(acked) > 20 and work.completer.acked and work.publisher.acked, numbers
    assert report.lost == [], f"acknowledged instances lost: {report.lost[:10]}"
    assert lost_completions == [], f"acknowledged completions lost: {lost_completions[:10]}"
    assert lost_messages == [], f"acknowledged messages lost: {lost_messages[:10]}"
    assert report.double_applied == [], f"applied twice: {report.double_applied[:10]}"
    assert report.not_completed == [], f"never finished: {report.not_completed[:10]}"


def test_all_replicas_lose_power_at_once(durable_cluster: PowerCluster) -> None:
    work = Load(durable_cluster)
    work.start()
    started = time.monotonic()
    try:
        time.sleep(8.0)  # steady load, snapshots written
        everyone = sorted(durable_cluster.urls)
        work.down(everyone)
        undone = durable_cluster.lose_power(everyone)
        work.up(everyone)
        # The bench really dropped something: writes made after the last fsync.
        assert sum(u["files"] + u["names"] for u in undone.values()) > 0, undone
        time.sleep(5.0)  # load after the power loss too
    finally:
        ended = work.stop_creating()
    verify(durable_cluster, work, "all-at-once", started, ended)


def test_one_node_loses_power_again_and_again(durable_cluster: PowerCluster) -> None:
    rng = random.Random(SEED)
    work = Load(durable_cluster)
    work.start()
    started = time.monotonic()
    try:
        time.sleep(4.0)
        for i in range(LOSSES):
            leaders = [n for n in durable_cluster.cluster.leaders().values() if n is not None]
            # Every other loss hits a leader; the others a random node.
            victim = rng.choice(leaders) if i % 2 == 0 and leaders else rng.randint(1, NODES)
            work.down([victim])
            durable_cluster.lose_power([victim])
            work.up([victim])
            time.sleep(3.0)
    finally:
        ended = work.stop_creating()
    verify(durable_cluster, work, "one-node-repeatedly", started, ended)


def test_without_fsync_a_power_loss_loses_acknowledged_instances(tmp_path: Path) -> None:
    # Page cache only, no snapshots (nothing that syncs), power cut right after the acks.
    cluster = PowerCluster(tmp_path, fsync=False, compaction_bytes=64 * 1024 * 1024)
    try:
        creators = Creators(
            cluster.urls, seed=SEED, process_id=load.PROCESS_ID, variables=load.new_variables
        )
        creators.start()
        time.sleep(4.0)
        creators.stop()
        acked = set(creators.acked)
        everyone = sorted(cluster.urls)
        cluster.lose_power(everyone)
        report = check(cluster.cluster.rest, cluster.cluster.urls[1], acked, load.PROCESS_ID)
        SUMMARY["fsync-off"] = {"instances_acknowledged": len(acked), "lost": len(report.lost)}
        print(f"\nfsync-off: {SUMMARY['fsync-off']}")
        assert len(acked) > 20
        assert report.lost, "fsync off lost nothing: the power-loss bench does not drop writes"
    finally:
        cluster.close()
