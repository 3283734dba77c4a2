"""The cluster client: how everything above the cluster layer reaches the partitions.

`ClusterClient` (a `typing.Protocol`) is the whole surface the service façade, the job layer
and the leader-side drivers use: submit a command record to its partition's leader wherever it
is, run a named read there, map a key to its partition, hear the events and role changes of
the local replicas. `Cluster` implements it on this node's replicas (a Raft `Partition` + an
`Engine` each), the leader table (`router.py`) and the internal gRPC clients (`peers.py`).

Routing: every command and every read runs on the partition's leader. A local leader runs it
here; otherwise it is forwarded over the internal gRPC service to the node the router names.
Reads are linearizable by default: the leader confirms with a majority that it still leads
before it answers (ReadIndex, `raft_quorum.py`), so a leader cut off from its peers cannot
answer from a stale replica. `consistency="local"` answers from this node's replica when it
has one (follower or cut-off leader: possibly stale, but cheap and available in a minority).
An answer that proves nothing was applied (`NotCommitted`: no leader, not the leader any more,
peer unreachable) is re-routed and retried for at most `leader_wait_ms`, then `Unavailable`
(503) with the partition id. A command sent with an idempotency key (the client's
`Idempotency-Key`, or one the node gives every forwarded command itself) is also retried
after `OutcomeUnknown` (the call broke after it was sent): the partition applies a key once
and answers a repeat with the first outcome (zennode/cluster/idempotency.py). Only a command
without a key can still end in `OutcomeUnknown` (503) for the caller.

Forwarding follows leadership: while a forwarded call is out, the router is watched. When it
names another leader for longer than the minimum election timeout (a live old leader answers
within that: its batches fail once it sees the new term), or the call has run for twice the
maximum election timeout while its target is no longer a reachable leader, the call is
abandoned: a read is retried on the current leader; a command may have been applied, so it
is re-sent to the current leader with the idempotency key it was forwarded with (`submit`),
and the partition answers a repeat with the first outcome. A leader that goes silent thus
costs about one election, not `request_timeout_ms`.

Threads: partitions apply and emit events on their own tick threads (listeners must not
block); everything else here runs on `loop`. Commits are awaited through
`asyncio.wrap_future`; `submit_local` and `read_replica` are the two calls that may also be
made from other threads (the internal job handler runner).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, Literal, Protocol, TypeVar

from zennode.cluster.batcher import NotCommitted, OutcomeUnknown
from zennode.cluster.idempotency import Idempotency, request_digest
from zennode.cluster.idempotency import attach as idempotency_attach
from zennode.cluster.offer_book import OfferBook
from zennode.cluster.reads import run_read
from zennode.cluster.replicas import ReplicaFactory, build_replica
from zennode.cluster.router import ReplicaReport, Router
from zennode.cluster.wire import PeerUnreachable
from zennode.config import Config
from zennode.engine import keys
from zennode.engine.commands import Command, to_wire
from zennode.engine.outcome import Outcome
from zennode.errors import Backpressure, NotFound, Unavailable

log = logging.getLogger("zennode.cluster.client")

EventListener = Callable[[int, list[dict[str, Any]]], None]
RoleListener = Callable[[int, bool], None]
T = TypeVar("T")
# What a read promises (docs/cluster.md): "linearizable" sees every write acknowledged before
# it started; "local" is this node's replica as it is (may lag or, cut off, be stale).
Consistency = Literal["linearizable", "local"]
CONSISTENCIES: tuple[Consistency, ...] = ("linearizable", "local")

ROLE_POLL_S = 0.05  # how often the role watcher looks at each local partition
LEADER_POLL_S = 0.02  # how often a request waiting for a leader looks again
FOLLOW_POLL_S = 0.05  # how often a forwarded call checks where the leadership went


class LeaderMoved(Exception):
    """A forwarded call was abandoned: its target stopped leading or went silent."""

    def __init__(self, partition_id: int, node_id: int, why: str) -> None:
        super().__init__(f"partition {partition_id}: node {node_id} {why}")
        self.node_id = node_id


class ClusterClient(Protocol):
    """What the layers above use of the cluster (see the module docstring)."""

    config: Config

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the APIs and drivers run on (hop onto it with call_soon_threadsafe)."""
        ...

    @property
    def partition_ids(self) -> list[int]: ...

    def local_partition_ids(self) -> list[int]:
        """The partitions this node holds a replica of."""
        ...

    def leads(self, partition_id: int) -> bool:
        """Whether this node's replica of the partition leads it now."""
        ...

    def partition_of(self, key: int, what: str) -> int:
        """The partition that owns `key`, or NotFound ("{what} {key} not found")."""
        ...

    def next_partition(self, local_first: bool = True) -> int:
        """Where the next new instance (or any request that every partition can answer)
        goes: round robin over the partitions this node leads, over all of them when it
        leads none or `local_first` is False (docs/cluster.md, "Spreading work")."""
        ...

    async def submit(
        self, partition_id: int, command: Command, idempotency: Idempotency | None = None
    ) -> Outcome:
        """Replicate `command` on the partition's leader, wherever it is (retried, forwarded);
        with `idempotency` it is applied at most once per key (a repeat gets the first
        outcome)."""
        ...

    async def submit_here(self, partition_id: int, command: Command) -> Outcome:
        """Replicate `command` only if this node leads the partition now (else NotCommitted):
        for drivers whose decisions are only valid while they lead."""
        ...

    def submit_local(self, partition_id: int, command: Command) -> Future[Outcome]:
        """`submit_here` for any thread: the local leader's commit future (raises
        NotCommitted when this node does not lead, Backpressure when its queue is full)."""
        ...

    async def read(
        self,
        partition_id: int,
        query: str,
        *,
        consistency: Consistency = "linearizable",
        **args: Any,
    ) -> Any:
        """Run a named read (`cluster.reads.READS`) on the partition's leader, wherever it is,
        after it confirmed its leadership; `consistency="local"` on this node's replica if it
        has one."""
        ...

    def read_replica(self, partition_id: int, query: str, **args: Any) -> Any:
        """Run a named read on this node's replica now, whatever its role, in the calling
        thread (Unavailable when there is no local replica)."""
        ...

    def add_event_listener(self, fn: EventListener) -> None:
        """`fn(partition_id, events)` after each batch a local leader applied, on its tick
        thread (it must not block)."""
        ...

    def add_role_listener(self, fn: RoleListener) -> None:
        """`fn(partition_id, is_leader)` on the loop when a local replica's role changes: once
        per replica at start, then False when a term of leadership ends and True when one
        starts (False then True when leadership was lost and regained between two looks)."""
        ...

    def offer_book(self, partition_id: int) -> OfferBook | None:
        """Where the local replica's job manager posts push offers for its batches while it
        leads (zennode.cluster.offer_book); None when `raft.activate_in_batch` is off."""
        ...

    def is_ready(self) -> bool:
        """Serving, and every local partition has a leader (the readiness probe)."""
        ...

    def partition_statuses(self) -> list[dict[str, Any]]:
        """Role, leader and Raft/LMDB numbers of every partition's local replica (if any)."""
        ...

    async def topology(self, with_digest: bool = True) -> dict[str, Any]:
        """Nodes (up/down) and partitions (leaders, replicas, applied indexes, digests)."""
        ...


class Cluster:
    """This node's part of the cluster: local replicas, routing, forwarding (`ClusterClient`)."""

    def __init__(self, config: Config, replica_factory: ReplicaFactory | None = None) -> None:
        self.config = config
        self.local_partitions: dict[int, Any] = {}  # partition id -> Partition
        self.engines: dict[int, Any] = {}
        self.router = Router(config, lambda: self.local_partitions)
        self.peers: Any = None  # zennode.cluster.peers.Peers when there is more than one member
        # Set by the node's wiring to count forwarded requests / commands refused before Raft.
        self.on_forwarded: Callable[[int], None] | None = None
        self.on_rejected: Callable[[int], None] | None = None
        self._factory = replica_factory or build_replica
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event_listeners: list[EventListener] = []
        self._role_listeners: list[RoleListener] = []
        self._listeners_lock = threading.Lock()
        self._roles: dict[int, int | None] = {}  # pid -> leadership epoch last reported
        self._spread = itertools.count()  # next_partition's round robin
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = False
        self._stopping = False

    # ------------------------------------------------------------- lifecycle

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def build_partitions(self) -> None:
        """Create the local replicas (blocking: run it in a thread)."""
        for pid in self.config.local_partition_ids:
            on_events = functools.partial(self._dispatch_events, pid)
            engine, partition = self._factory(self.config, pid, on_events)
            self.engines[pid] = engine
            self.local_partitions[pid] = partition

    async def start(self) -> None:
        """Watch the local replicas' roles; with peers, poll their roles and balance leaders."""
        self._loop = asyncio.get_running_loop()
        self._started, self._stopping = True, False
        self._tasks.append(asyncio.create_task(self._watch_roles(), name="role-watcher"))
        if len(self.config.members) > 1:
            from zennode.cluster.peers import Peers

            self.peers = Peers(self.config)
            poll = self.router.poll_forever(self.peers)
            self._tasks.append(asyncio.create_task(poll, name="router-poll"))
            if self.config.raft.balance_leaders:
                from zennode.cluster.balancer import LeaderBalancer

                balancer = LeaderBalancer(self)
                self._tasks.append(asyncio.create_task(balancer.run_forever(), name="balancer"))

    def stop_serving(self) -> None:
        """Refuse new requests (Unavailable) from now on; the node is shutting down."""
        self._stopping = True

    async def stop(self) -> None:
        """Stop the background tasks, close the peer channels, stop the local replicas."""
        self._stopping = True
        self._started = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        if self.peers is not None:
            await self.peers.close()
            self.peers = None
        partitions = list(self.local_partitions.values())
        self.local_partitions = {}
        for partition in partitions:
            try:
                await asyncio.to_thread(partition.stop)
            except Exception:
                log.exception("stopping a partition failed")
        self.engines = {}
        self._roles = {}

    # ------------------------------------------------------- events, roles

    def add_event_listener(self, fn: EventListener) -> None:
        with self._listeners_lock:
            self._event_listeners = [*self._event_listeners, fn]

    def add_role_listener(self, fn: RoleListener) -> None:
        with self._listeners_lock:
            self._role_listeners = [*self._role_listeners, fn]

    def _dispatch_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        for fn in self._event_listeners:
            try:
                fn(partition_id, events)
            except Exception:
                log.exception("event listener %r failed", fn)

    async def _watch_roles(self) -> None:
        """Tell role listeners of every leadership term a local replica starts or ends.

        It polls each replica's `leader_epoch` every `ROLE_POLL_S` rather than being pushed
        each change from the tick thread: a poll also sees what no Raft state change
        announces (a replica halted or stopped stops leading without one), and listeners
        always run on the loop, in order, one report per look. Comparing epochs, not the
        bare `is_leader`, is what makes the poll miss nothing: a replica that lost and won
        back leadership between two looks has a new epoch and is reported as losing it
        (False) and gaining it (True), so listeners drop what the earlier term left them
        (offers, in-flight jobs, drivers). The price is up to `ROLE_POLL_S` of delay, which
        is safe: until a listener hears of a change, Raft itself fences the stale side (a
        former leader's submits fail NotCommitted; a new leader's drivers start late)."""
        while True:
            for pid, partition in list(self.local_partitions.items()):
                self._report_role(pid, partition.leader_epoch)
            await asyncio.sleep(ROLE_POLL_S)

    def _report_role(self, pid: int, epoch: int | None) -> None:
        """Report a replica's leadership epoch (None: not leading) if it changed since the
        last look; the first look reports the role as it is."""
        known = pid in self._roles
        was = self._roles.get(pid)
        if known and was == epoch:
            return
        self._roles[pid] = epoch
        # DEBUG: the partition itself logs each role change at INFO (one line each)
        log.debug("partition %s: leadership epoch %s -> %s", pid, was, epoch)
        if was is not None or epoch is None:
            self._notify_role(pid, False)
        if epoch is not None:
            self._notify_role(pid, True)

    def _notify_role(self, pid: int, leader: bool) -> None:
        for fn in self._role_listeners:
            try:
                fn(pid, leader)
            except Exception:
                log.exception("role listener %r failed", fn)

    # ------------------------------------------------------------ lookups

    @property
    def partition_ids(self) -> list[int]:
        return list(self.config.partition_ids)

    def local_partition_ids(self) -> list[int]:
        return sorted(self.local_partitions)

    def leads(self, partition_id: int) -> bool:
        return self._local_leader(partition_id) is not None

    def partition_of(self, key: int, what: str) -> int:
        if key <= 0:
            raise NotFound(f"{what} {key} not found")
        partition_id = keys.partition_of(key)
        if partition_id not in self.config.partition_ids:
            raise NotFound(f"{what} {key} not found (no partition {partition_id})")
        return partition_id

    def next_partition(self, local_first: bool = True) -> int:
        """Round robin over the partitions led here, so the request needs no forward; over
        all partitions when this node leads none (a node without replicas, an election) or
        the caller asks for all. With clients spread evenly over the nodes and leaders spread
        by the balancer, every partition still gets an even share cluster-wide
        (docs/cluster.md)."""
        turn = next(self._spread)
        if local_first:
            led = [pid for pid, p in self.local_partitions.items() if p.is_leader]
            if led:
                return led[turn % len(led)]
        ids = self.config.partition_ids
        return ids[turn % len(ids)]

    def offer_book(self, partition_id: int) -> OfferBook | None:
        partition = self.local_partitions.get(partition_id)
        # Stand-in partitions of tests have none: their managers activate in a second commit.
        book = getattr(partition, "offer_book", None)
        return book if isinstance(book, OfferBook) else None

    def is_ready(self) -> bool:
        """Serving, and every local partition has a leader (the readiness probe)."""
        if not self._started or self._stopping or not self.local_partitions:
            return False
        return all(
            p.is_leader or p.leader_address is not None for p in self.local_partitions.values()
        )

    def _check_partition(self, partition_id: int) -> None:
        if partition_id not in self.config.partition_ids:
            raise NotFound(f"partition {partition_id} does not exist")

    def _local_leader(self, partition_id: int) -> Any | None:
        partition = self.local_partitions.get(partition_id)
        return partition if partition is not None and partition.is_leader else None

    def _leader_here(self, partition_id: int) -> Any:
        self._check_partition(partition_id)
        partition = self._local_leader(partition_id)
        if partition is None:
            raise NotCommitted(
                f"node {self.config.node_id} does not lead partition {partition_id}",
                partition_id,
            )
        return partition

    # ------------------------------------------------------------- routing

    async def _route(
        self,
        partition_id: int,
        local: Callable[[Any], Awaitable[T]],
        remote: Callable[[int], Awaitable[T]],
    ) -> T:
        """Run `local(partition)` on a local leader or `remote(node_id)` on the leader's node.

        Retries while the answer is `NotCommitted` (no leader, leader just changed, leader
        unreachable: certainly not applied) for at most `leader_wait_ms`, then 503 with the
        partition id. Any other error, `OutcomeUnknown` included, goes to the caller.
        """
        self._check_partition(partition_id)
        wait_ms = self.config.limits.leader_wait_ms
        deadline = time.monotonic() + wait_ms / 1000
        last: Exception | None = None
        while True:
            if self._stopping:
                raise Unavailable("node is shutting down", partition_id=partition_id)
            partition = self._local_leader(partition_id)
            leader = self.config.node_id if partition is not None else None
            try:
                if partition is not None:
                    return await local(partition)
                leader = self.router.leader_of(partition_id)
                if leader is not None and leader != self.config.node_id and self.peers:
                    if self.on_forwarded is not None:
                        self.on_forwarded(partition_id)
                    return await remote(leader)
            except PeerUnreachable as exc:
                last = exc
                self.router.mark_unreachable(exc.node_id)
            except NotCommitted as exc:  # not the leader (any more): ask the router again
                last = exc
                if leader is not None and leader != self.config.node_id:
                    self.router.forget(leader, partition_id)
            if time.monotonic() >= deadline:
                why = f" (last: {last})" if last is not None else ""
                raise Unavailable(
                    f"partition {partition_id} has no reachable leader (waited {wait_ms} ms){why}",
                    partition_id=partition_id,
                )
            await asyncio.sleep(LEADER_POLL_S)

    async def submit(
        self, partition_id: int, command: Command, idempotency: Idempotency | None = None
    ) -> Outcome:
        """Forwarded commands travel as JSON and come back as an `Outcome` without events (the
        leader's node hands the events to its own listeners). A forwarded command that the
        remote node answers with `NotCommitted` is raised here, so `_route` re-routes and
        retries it like a local one. A forwarded command always carries an idempotency key
        (the client's, or a `node` key made here), so when its answer is lost
        (`OutcomeUnknown`) it is sent again, with the same key, until `leader_wait_ms` ends:
        the partition applies it once and answers the repeat with the first outcome."""
        timeout = self.config.limits.request_timeout_ms / 1000
        wire = to_wire(command)
        if idempotency is not None:
            wire = idempotency_attach(wire, idempotency)
        # The `node` key is made on the first forward only (then reused by every retry): most
        # commands commit on this node, and a uuid4 (a getrandom call) plus a request digest
        # per command was ~2 % of a busy node's samples (docs/benchmarks.md, issue 19).
        forwarded: list[dict[str, Any]] = [wire] if idempotency is not None else []

        def forwarded_wire() -> dict[str, Any]:
            if not forwarded:
                key = Idempotency(uuid.uuid4().hex, request_digest("node", **wire), "node")
                forwarded.append(idempotency_attach(wire, key))
            return forwarded[0]

        async def remote(node_id: int) -> Outcome:
            call = self.peers.submit(node_id, partition_id, forwarded_wire(), timeout + 1.0)
            try:
                outcome: Outcome = await self._follow_leadership(partition_id, node_id, call)
            except LeaderMoved as exc:
                # It may have been applied; it carries an idempotency key, so `submit` sends
                # it again (to whichever node leads now) and gets the first outcome if it was.
                raise OutcomeUnknown(
                    f"{exc} while the command was forwarded to it; it may or may not have "
                    "been applied",
                    partition_id,
                ) from None
            if isinstance(outcome.error, NotCommitted | OutcomeUnknown):
                raise outcome.error
            return outcome

        attempts: list[bool] = []  # per attempt: did it carry a key

        async def local(partition: Any) -> Outcome:
            attempts.append(idempotency is not None)
            return await self._commit(partition, partition_id, wire)

        async def forward(node_id: int) -> Outcome:
            attempts.append(True)
            return await remote(node_id)

        deadline = time.monotonic() + self.config.limits.leader_wait_ms / 1000
        unknown: OutcomeUnknown | None = None
        while True:
            try:
                return await self._route(partition_id, local, forward)
            except OutcomeUnknown as exc:
                if not (attempts and attempts[-1]) or time.monotonic() >= deadline:
                    raise
                unknown = exc
                await asyncio.sleep(LEADER_POLL_S)  # same key: applied at most once
            except Unavailable:
                if unknown is not None:  # an earlier attempt may have been applied: say so
                    raise unknown from None
                raise

    async def submit_here(self, partition_id: int, command: Command) -> Outcome:
        return await self.submit_wire_here(partition_id, to_wire(command))

    async def submit_wire_here(self, partition_id: int, wire: dict[str, Any]) -> Outcome:
        """A command in wire form forwarded by a peer: run it only as the current leader."""
        return await self._commit(self._leader_here(partition_id), partition_id, wire)

    def submit_local(self, partition_id: int, command: Command) -> Future[Outcome]:
        partition = self.local_partitions.get(partition_id)
        if partition is None:
            raise Unavailable(f"partition {partition_id} is not local", partition_id)
        future: Future[Outcome] = partition.submit(to_wire(command))
        return future

    async def _commit(self, partition: Any, partition_id: int, wire: dict[str, Any]) -> Outcome:
        try:
            future = partition.submit(wire)
        except Backpressure:
            if self.on_rejected is not None:
                self.on_rejected(partition_id)
            raise
        timeout = self.config.limits.request_timeout_ms / 1000
        try:
            outcome: Outcome = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError as exc:
            raise Unavailable(
                f"partition {partition_id} did not commit the command within {timeout:g} s",
                partition_id=partition_id,
            ) from exc
        return outcome

    async def read(
        self,
        partition_id: int,
        query: str,
        *,
        consistency: Consistency = "linearizable",
        **args: Any,
    ) -> Any:
        timeout = self.config.limits.request_timeout_ms / 1000
        if consistency == "local":
            self._check_partition(partition_id)
            replica = self.local_partitions.get(partition_id)
            if replica is not None:
                with replica.read() as txn:
                    return run_read(txn, query, args)

        async def local(partition: Any) -> Any:
            await self._confirm_leadership(partition, partition_id)
            with partition.read() as txn:
                return run_read(txn, query, args)

        async def remote(node_id: int) -> Any:
            call = self.peers.read(node_id, partition_id, query, args, timeout)
            try:
                return await self._follow_leadership(partition_id, node_id, call)
            except LeaderMoved as exc:
                raise NotCommitted(str(exc), partition_id) from None  # reads are safe to resend

        return await self._route(partition_id, local, remote)

    async def _follow_leadership(self, partition_id: int, node_id: int, call: Awaitable[T]) -> T:
        """Await `call`, forwarded to `node_id`, unless the leadership moves away from it
        (see the module docstring); then cancel it and raise LeaderMoved."""
        raft = self.config.raft
        grace_s, deadline_s = raft.min_timeout_s, 2 * raft.max_timeout_s
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(call)
        started = loop.time()
        moved_at: float | None = None
        try:
            while True:
                done, _pending = await asyncio.wait({task}, timeout=FOLLOW_POLL_S)
                if done:
                    return task.result()
                now = loop.time()
                leader = self.router.leader_of(partition_id)
                if leader is not None and leader != node_id:
                    moved_at = now if moved_at is None else moved_at
                    if now - moved_at >= grace_s:
                        raise LeaderMoved(partition_id, node_id, f"lost the lead to node {leader}")
                else:
                    moved_at = None
                if now - started >= deadline_s and (
                    leader != node_id or not self.router.is_up(node_id)
                ):
                    raise LeaderMoved(partition_id, node_id, f"did not answer in {deadline_s:g} s")
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    async def read_here(self, partition_id: int, query: str, args: dict[str, Any]) -> Any:
        """A read forwarded by a peer: answer only as the partition's confirmed leader."""
        partition = self._leader_here(partition_id)
        await self._confirm_leadership(partition, partition_id)
        with partition.read() as txn:
            return run_read(txn, query, args)

    async def _confirm_leadership(self, partition: Any, partition_id: int) -> None:
        """Wait until `partition` proved it still leads (ReadIndex); NotCommitted if it does
        not, which `_route` retries on whichever node leads by then."""
        timeout = self.config.limits.request_timeout_ms / 1000
        try:
            await asyncio.wait_for(asyncio.wrap_future(partition.read_barrier()), timeout)
        except TimeoutError as exc:
            raise NotCommitted(
                f"partition {partition_id}: leadership not confirmed within {timeout:g} s",
                partition_id,
            ) from exc
        except NotCommitted as exc:
            raise NotCommitted(f"partition {partition_id}: {exc.message}", partition_id) from exc

    def read_replica(self, partition_id: int, query: str, **args: Any) -> Any:
        partition = self.local_partitions.get(partition_id)
        if partition is None:
            raise Unavailable(f"partition {partition_id} is not local", partition_id)
        with partition.read() as txn:
            return run_read(txn, query, args)

    # ------------------------------------------------------------ topology

    def partition_statuses(self) -> list[dict[str, Any]]:
        """Role, leader and Raft/LMDB numbers of every partition's local replica (if any)."""
        partitions = []
        for pid in self.config.partition_ids:
            partition = self.local_partitions.get(pid)
            if partition is None:
                partitions.append({"partition": pid, "local": False})
                continue
            entry: dict[str, Any] = {
                "partition": pid,
                "local": True,
                "role": "leader" if partition.is_leader else "follower",
                "leader": partition.leader_address,
            }
            try:
                entry.update(partition.status())
            except Exception as exc:  # status is diagnostics; never fail the endpoint on it
                entry["statusError"] = str(exc)
            partitions.append(entry)
        return partitions

    async def replica_roles(self, with_digest: bool = False) -> dict[int, ReplicaReport]:
        """Role, leader, term, applied index (and digest) of every local replica."""
        reports: dict[int, ReplicaReport] = {}
        for pid, partition in sorted(self.local_partitions.items()):
            try:
                report = self.router.local_report(partition)
                if with_digest:
                    report.digest = await asyncio.to_thread(partition.digest)
            except Exception as exc:  # a replica that is stopping: report it without data
                log.debug("partition %s: no role report: %s", pid, exc)
                continue
            reports[pid] = report
        return reports

    async def topology(self, with_digest: bool = True) -> dict[str, Any]:
        """Nodes (up/down) and partitions (leader, followers, replicas' applied index, digest).

        Asks every peer now (bounded), so the digests can be compared across replicas.
        """
        from zennode.cluster.topology import build_topology

        own = await self.replica_roles(with_digest=with_digest)
        peers: dict[int, Any] = {}
        if self.peers is not None:
            replies = await self.peers.roles_of_all(with_digest=with_digest, timeout_s=3.0)
            for node_id, reply in replies.items():
                self.router.record(node_id, reply)
                peers[node_id] = (
                    None if reply is None else dict(self.router.peers[node_id].replicas)
                )
        return build_topology(self.config, own, peers)
