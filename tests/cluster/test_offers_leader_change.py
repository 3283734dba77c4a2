"""Push offers (`raft.activate_in_batch`) across a real leader change, on three real nodes in
this process (127.0.0.1, reserved ports; one partition, three replicas).

A leader's job manager reserves room of a waiting worker as an offer; the batch that creates
the job carries it, so the job is activated for that worker by the batch's apply. Here the
leader is cut off just as it sends the batch carrying an offer and a new instance:
- cut both ways, the batch never commits: the old leader must free the reservation, and the
  instance created again through the new leader is pushed to the same worker and completes;
- cut only from what the others send it, the batch reaches them and the new leader commits
  it: the job is locked to the worker by an offer nobody pushes (the old leader learns the
  commit only after the heal). The new leader expires the lock, pushes the job, it completes
  once; the old leader, healed, must not push the job it offered a second time (it did:
  the job was handed out twice, see `JobManager.on_offers_settled`).

Heavy: run under `flock /tmp/zennode-heavy.lock`.

The Raft cut is `Cuts` (test_raft_quorum.py); the worker is the worker SDK on the old
leader's node, so the new leader reaches it over the job relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from support.bpmn import one_task
from support.nodes import NodeThread
from support.ports import reserve_cluster
from support.waits import eventually, wait_until
from test_raft_quorum import Cuts

from zennode.cluster import NotCommitted
from zennode.cluster.batcher import Batch
from zennode.cluster.partition import Partition
from zennode.config import parse_config
from zennode.engine.commands import CreateInstance, to_wire
from zennode.engine.outcome import Outcome
from zennode.node import Node
from zennode.tools import launcher
from zennode.worker import Worker

pytestmark = pytest.mark.timeout(120)

LOCK_MS = 3_000  # the worker's lock: how long a job locked to it by a lost offer waits


class Cluster:
    """Three `NodeThread`s forming one cluster (1 partition, R=3); stopped by `close`."""

    def __init__(self, directory: Path) -> None:
        ports = reserve_cluster(3, 1)
        docs = launcher.node_configs(directory, 3, 1, 3, ports.base, secret="offers-test-secret")
        self.nodes = [
            NodeThread(Node(parse_config(yaml.safe_dump(doc)), serve_http=False, serve_grpc=True))
            for doc in docs.values()
        ]
        self.cuts: Cuts | None = None
        # Together: a node's start waits for its partition, which needs a quorum of nodes.
        starters = [threading.Thread(target=n.start, kwargs={"ready": False}) for n in self.nodes]
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join(60)
        try:
            replicas = {i: self.partition(n) for i, n in enumerate(self.nodes)}
        except Exception:
            self.close()
            raise
        self.cuts = Cuts(SimpleNamespace(replicas=replicas))  # type: ignore[arg-type]

    def partition(self, node: NodeThread) -> Partition:
        return node.node.cluster.local_partitions[1]

    def leader(self, among: list[NodeThread] | None = None, timeout_s: float = 15) -> NodeThread:
        nodes = among or self.nodes
        return wait_until(
            lambda: next((n for n in nodes if self.partition(n).is_leader), None),
            timeout_s,
            "a leader of partition 1",
        )

    def close(self) -> None:
        if self.cuts is not None:
            self.cuts.heal()
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path)
    try:
        yield started
    finally:
        started.close()


def cut_at_the_offered_creation(partition: Partition, cut: Any) -> threading.Event:
    """Call `cut()` on the batcher thread just before `partition` sends the first batch that
    carries push offers and an instance creation; the event is set once it did."""
    batcher = partition._batcher
    send = batcher._send
    done = threading.Event()

    def cutting_send(batch: Batch) -> None:
        creates = any(b"create_instance" in pending.payload for pending in batch.items)
        if batch.offers and creates and not done.is_set():
            cut()
            done.set()
        send(batch)

    batcher._send = cutting_send  # type: ignore[method-assign]
    return done


class Deliveries:
    """What the worker was pushed: (instance key, job key) -> times."""

    def __init__(self) -> None:
        self.keys: Counter[tuple[int, int]] = Counter()

    def handle(self, job: Any) -> dict[str, Any]:
        self.keys[(job.instance_key, job.key)] += 1
        return {}

    def only(self, instance_key: int) -> bool:
        """Exactly one job was pushed, once, and it is `instance_key`'s."""
        return list(self.keys.values()) == [1] and next(iter(self.keys))[0] == instance_key


def manager(node: NodeThread) -> Any:
    return node.node.job_streams.managers[1]


async def completed(node: NodeThread, instance_key: int) -> bool:
    return (await node.instance(instance_key))["state"] == "completed"


@dataclass
class CutOff:
    """The scene after `offered_creation_cut_off`."""

    old: NodeThread  # the leader that sent the batch and was cut off
    new: NodeThread  # the leader the others elected
    answer: asyncio.Future[Outcome]  # the creation's answer on the old leader
    deliveries: Deliveries  # what the worker (on the old leader's node) was pushed
    cuts: Cuts


@contextlib.asynccontextmanager
async def offered_creation_cut_off(cluster: Cluster, how: str) -> AsyncIterator[CutOff]:
    """A worker of type `t` on the leader's node; once the leader offers it room, an instance
    is created and the leader is cut off (`Cuts.isolate` or `Cuts.deafen`) as the batch
    carrying the creation and an offer goes out. Yields once a new leader leads."""
    old = cluster.leader()
    await old.deploy(one_task("p", "t"))
    assert cluster.cuts is not None
    cuts = cluster.cuts
    deliveries = Deliveries()
    worker = Worker(old.address, client_id="w", lock_duration_ms=LOCK_MS)
    worker.handler("t")(deliveries.handle)
    task = asyncio.ensure_future(worker.run())
    try:
        await worker.wait_connected()
        partition = cluster.partition(old)
        book = partition.offer_book
        assert book is not None
        await eventually(lambda: book.posted_count() > 0, 10, "an offer for the worker")
        was_cut = cut_at_the_offered_creation(partition, lambda: getattr(cuts, how)(partition))
        # Straight to the partition: the service would resend a `NotCommitted` creation to
        # the new leader, as a client may; here the one command's own fate is the point.
        command = to_wire(CreateInstance(bpmn_process_id="p"))
        answer = asyncio.wrap_future(partition.submit(command))
        await eventually(was_cut.is_set, 10, "the batch with the offer and the creation")
        others = [n for n in cluster.nodes if n is not old]
        new = await asyncio.to_thread(cluster.leader, others)
        await eventually(lambda: not partition.is_leader, 10, "the old leader to step down")
        yield CutOff(old, new, answer, deliveries, cuts)
    finally:
        await worker.stop(timeout=5)
        await asyncio.wait_for(task, 10)


def offers_freed(node: NodeThread) -> bool:
    """The manager of a replica that does not lead any more holds no room of any worker."""
    jobs = manager(node)
    book = jobs._offering.book
    return (
        jobs._offering.reserved_count() == 0
        and book.posted_count() == 0
        and all(not w.in_flight for w in jobs._workers.values())
    )


def test_an_offered_batch_that_never_commits_frees_its_room_and_the_job_is_pushed_anew(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        async with offered_creation_cut_off(cluster, "isolate") as scene:
            old, new, deliveries = scene.old, scene.new, scene.deliveries
            await eventually(lambda: offers_freed(old), 10, "the old leader's offers freed")
            again = await new.start_instance("p")
            await eventually(lambda: completed(new, again), 20, "the new instance completed")
            assert deliveries.only(again), deliveries.keys
            scene.cuts.heal()
            with pytest.raises(NotCommitted):  # its entry was replaced
                await asyncio.wait_for(scene.answer, 30)
            await eventually(lambda: offers_freed(old), 10, "the old leader's offers settled")
            assert await instances_of(new) == [again]  # the lost creation made nothing
            await asyncio.sleep(1.0)
            assert deliveries.only(again), deliveries.keys

    asyncio.run(asyncio.wait_for(scenario(), 100))


def test_an_offered_batch_the_new_leader_commits_is_pushed_once_after_its_lock(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        async with offered_creation_cut_off(cluster, "deafen") as scene:
            old, new, deliveries = scene.old, scene.new, scene.deliveries
            # The others had the entry: the new leader committed it, the job locked to the
            # worker by the offer, which nobody pushed. Its lock expires; then it is pushed.
            [instance] = await eventually(
                lambda: instances_of(new), 10, "the offered creation committed"
            )
            await eventually(lambda: completed(new, instance), LOCK_MS / 1000 + 20, "completion")
            assert deliveries.only(instance), deliveries.keys
            scene.cuts.heal()
            # The old leader applies its batch now and learns it committed, after its lock.
            outcome = await asyncio.wait_for(scene.answer, 30)
            assert outcome.result["processInstanceKey"] == instance
            await eventually(lambda: offers_freed(old), 10, "the old leader's offers settled")
            await asyncio.sleep(1.0)
            assert deliveries.only(instance), deliveries.keys  # not pushed a second time

    asyncio.run(asyncio.wait_for(scenario(), 100))


async def instances_of(node: NodeThread) -> list[int]:
    result = await node.acall(node.node.service.list_instances(page=1, size=10))
    return [int(i["processInstanceKey"]) for part in result["partitions"] for i in part["items"]]
