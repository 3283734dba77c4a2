"""Job manager, client side: the worker streams connected to this node.

One `JobStreams` per node, created by the node whether or not it serves gRPC. It holds every
open worker stream (`WorkerStream`), forwards each subscription to the job manager of every
partition, sends completions and failures through the service façade (which routes them to
the leader of the partition that owns the job key, wherever it is), and is the sink the
managers push activated jobs into. It also builds and wires the server-side `JobManager` of
each local partition (events and role changes from the cluster client, hopped onto the loop).

Where subscriptions go: `_links` maps each local partition to its `JobManager` (whatever its
role: only a leading manager acts, and a replica that becomes leader already knows every
worker). In a cluster, `_peers` holds one `JobRelayLink` (`zennode.jobs.job_relay`) per other
member: one job relay stream that carries every subscription to that member's managers and
brings back the jobs its leaders activate for workers connected here (`deliver_relayed`). So
every replica of every partition knows every worker, and a leader change needs no
re-subscription.

The in-flight limit of a worker counts over the whole cluster: each partition's manager gets
its `partition_share` of it.

A client id streams on one node of the cluster at a time: a stream opened here is announced to
every other node through the job relay, and one whose client id another node streams is refused
with ALREADY_EXISTS (`use_remote_clients`); two nodes that accepted the same client id before
hearing of each other keep the stream opened first (`claimed_elsewhere`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from zennode.cluster.client import ClusterClient
from zennode.config import Config
from zennode.engine.commands import ReleaseJobs
from zennode.errors import AlreadyExists, BadRequest, TooLarge, Unavailable
from zennode.jobs.manager import (
    JOB_EVENTS,
    JobManager,
    Settings,
    WorkerSink,
    partition_share,
)

if TYPE_CHECKING:
    from zennode.jobs.job_relay import JobRelayLink
    from zennode.service import Service

log = logging.getLogger("zennode.jobs.streams")

JOB_TYPE_CHARS_MAX = 255
CLIENT_ID_CHARS_MAX = 255


class StateReader(Protocol):
    """What the job stream reads from a local replica's state (in a worker thread)."""

    def activatable(self, partition_id: int, job_type: str, limit: int) -> list[tuple[int, int]]:
        """(key, activatable-at ms) of active jobs of `job_type`, oldest first."""
        ...

    def activated(self, partition_id: int, limit: int) -> list[tuple[int, str, int]]:
        """(key, worker, lock deadline ms) of activated jobs, up to `limit`."""
        ...


class PartitionLink(Protocol):
    """What the client side asks of one local partition's job manager."""

    def subscribe(self, sink: WorkerSink, job_type: str, lock_ms: int, jobs_max: int) -> None: ...

    def unsubscribe(self, worker_id: str, job_type: str) -> None: ...

    def remove_worker(self, worker_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PushedJob:
    job: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamError:
    code: str  # gRPC status code name, from errors.grpc_code_name()
    message: str
    job_key: int | None = None


StreamItem = PushedJob | StreamError | None  # None ends the stream


class WorkerStream:
    """One open worker stream: its identity, subscriptions and bounded outgoing queue."""

    def __init__(self, client_id: str, queue_max: int) -> None:
        self.client_id = client_id
        self.opened_at_ms = int(time.time() * 1000)  # wall clock: compared across nodes
        # Unique per stream, so releasing this stream's jobs never frees a reconnected one's.
        self.worker_id = f"{client_id}#{uuid.uuid4().hex[:8]}"
        self.subscriptions: dict[str, tuple[int, int]] = {}  # type -> (lock ms, jobs max)
        self.closed = False
        self._queue: asyncio.Queue[StreamItem] = asyncio.Queue(queue_max)

    def deliver(self, job: dict[str, Any]) -> bool:
        if self.closed:
            return False
        try:
            self._queue.put_nowait(PushedJob(job))
        except asyncio.QueueFull:
            return False
        return True

    def send_error(self, code: str, message: str, job_key: int | None = None) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(StreamError(code, message, job_key))
        except asyncio.QueueFull:
            log.warning("stream %s: queue full, error dropped: %s", self.worker_id, message)

    async def next_item(self) -> StreamItem:
        return await self._queue.get()

    def end(self) -> None:
        """Make `next_item` return None once what is queued was taken."""
        self.closed = True
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()  # the stream is ending: drop the oldest item


class JobStreams:
    """Client side of the job stream on one node (see the module docstring)."""

    def __init__(
        self,
        cluster: ClusterClient,
        service: Service,
        settings: Settings | None = None,
        state: StateReader | None = None,
    ) -> None:
        self.cluster = cluster
        self.service = service
        # Tests without an engine pass their own state reader.
        self._state = state or EngineStateReader(cluster)
        self.settings = settings or settings_from_config(cluster.config)
        self.managers: dict[int, JobManager] = {}
        self._links: dict[int, PartitionLink] = {}
        self._peers: dict[int, JobRelayLink] = {}  # member id -> its job relay link
        self._streams: dict[str, WorkerStream] = {}  # client id -> stream
        self._by_worker: dict[str, WorkerStream] = {}  # worker id -> stream
        self._remote_holder: Callable[[str], int | None] = lambda client_id: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.relay_stats = {"relayed": 0, "relay_undelivered": 0, "relay_expired": 0}

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create a manager per local partition and hook it to the node's events and roles."""
        self._loop = asyncio.get_running_loop()
        # A manager acts only while its own replica leads: its commands are never forwarded
        # (`submit_here` answers NotCommitted elsewhere), so a manager that has just lost
        # leadership cannot activate jobs on the new leader behind its manager's back.
        submit = self.cluster.submit_here
        for pid in self.cluster.local_partition_ids():
            manager = JobManager(
                pid,
                submit=lambda command, pid=pid: submit(pid, command),
                load_activatable=lambda job_type, limit, pid=pid: self._load(pid, job_type, limit),
                settings=self.settings,
                load_activated=lambda limit, pid=pid: self._load_activated(pid, limit),
                offer_book=self.cluster.offer_book(pid),
            )
            self.managers[pid] = manager
            self._links[pid] = manager
            manager.start(self.cluster.leads(pid))
        self.cluster.add_event_listener(self._on_events)
        self.cluster.add_role_listener(self._on_role)
        config: Config = self.cluster.config
        if len(config.members) > 1:
            from zennode.jobs.job_relay import JobRelayLink

            for member in config.members:
                if member.id != config.node_id:
                    link = JobRelayLink(self, member, config)
                    self._peers[member.id] = link
                    link.start()

    async def stop(self) -> None:
        self._stopped = True
        for stream in list(self._streams.values()):
            stream.end()
        self._streams.clear()
        self._by_worker.clear()
        for link in self._peers.values():
            await link.stop()
        for task in list(self._tasks):
            task.cancel()
        for manager in self.managers.values():
            await manager.stop()

    def _on_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        """On the partition's tick thread: pass job events to the loop, never block."""
        manager = self.managers.get(partition_id)
        if manager is None or self._loop is None or self._stopped:
            return
        relevant = [e for e in events if e.get("event") in JOB_EVENTS]
        if relevant:
            self._loop.call_soon_threadsafe(manager.on_events, relevant)

    def _on_role(self, partition_id: int, is_leader: bool) -> None:
        manager = self.managers.get(partition_id)
        if manager is not None and self._loop is not None and not self._stopped:
            self._loop.call_soon_threadsafe(manager.on_role, is_leader)

    async def _load(self, partition_id: int, job_type: str, limit: int) -> list[tuple[int, int]]:
        """Keys of activatable jobs of `job_type`, oldest first, read on the local replica."""
        return await asyncio.to_thread(self._state.activatable, partition_id, job_type, limit)

    async def _load_activated(self, partition_id: int, limit: int) -> list[tuple[int, str, int]]:
        """(key, worker, deadline) of jobs activated in the local replica's state."""
        return await asyncio.to_thread(self._state.activated, partition_id, limit)

    # -------------------------------------------------------------- streams

    def use_remote_clients(self, holder_of: Callable[[str], int | None]) -> None:
        """`holder_of(client_id)`: the other node streaming that client id (the job relay)."""
        self._remote_holder = holder_of

    def open(self, client_id: str | None) -> WorkerStream:
        """Register a new worker stream; a client id already connected to this node or to
        another node of the cluster is refused (AlreadyExists)."""
        if self._stopped:
            raise Unavailable("node is shutting down")
        client_id = (client_id or "").strip() or f"worker-{uuid.uuid4().hex[:12]}"
        if len(client_id) > CLIENT_ID_CHARS_MAX:
            raise BadRequest(f"client_id is longer than {CLIENT_ID_CHARS_MAX} characters")
        if client_id in self._streams:
            raise AlreadyExists(
                f"a worker with client_id {client_id!r} is already connected to this node; "
                "close that stream or use another client_id"
            )
        elsewhere = self._remote_holder(client_id)
        if elsewhere is not None:
            raise AlreadyExists(
                f"a worker with client_id {client_id!r} is already connected to node "
                f"{elsewhere}; close that stream or use another client_id"
            )
        if len(self._streams) >= self.settings.worker_streams_max:
            raise Unavailable(f"this node already holds {len(self._streams)} worker streams")
        stream = WorkerStream(client_id, self.settings.stream_queue_max)
        self._streams[client_id] = stream
        self._by_worker[stream.worker_id] = stream
        for peer in self._peers.values():
            peer.open_worker(stream.worker_id, stream.opened_at_ms)
        return stream

    def open_workers(self) -> list[tuple[str, int]]:
        """(worker id, opened at ms) of every open stream (a relay's resync)."""
        return [(s.worker_id, s.opened_at_ms) for s in self._streams.values()]

    def claimed_elsewhere(self, client_id: str, opened_at_ms: int, node_id: int) -> None:
        """Node `node_id` streams `client_id` since `opened_at_ms`: if a stream here holds it
        too (both opened before hearing of the other), the later one ends, here or there."""
        stream = self._streams.get(client_id)
        if stream is None:
            return
        here = (stream.opened_at_ms, int(self.cluster.config.node_id))
        if here > (opened_at_ms, node_id):
            stream.send_error(
                "ALREADY_EXISTS",
                f"a worker with client_id {client_id!r} connected to node {node_id} first; "
                "this stream ends",
            )
            self.close(stream)

    def close(self, stream: WorkerStream) -> None:
        """The stream ended: every partition forgets the worker and frees its jobs at once."""
        if self._streams.get(stream.client_id) is stream:
            del self._streams[stream.client_id]
        if self._by_worker.get(stream.worker_id) is stream:
            del self._by_worker[stream.worker_id]
        stream.end()
        for link in self._links.values():
            link.remove_worker(stream.worker_id)
        for peer in self._peers.values():
            peer.remove_worker(stream.worker_id)

    def subscriptions(self) -> list[tuple[str, str, int, int]]:
        """(worker id, job type, lock ms, jobs max) of every open stream (a relay's resync)."""
        return [
            (stream.worker_id, job_type, lock, limit)
            for stream in self._streams.values()
            for job_type, (lock, limit) in stream.subscriptions.items()
        ]

    def deliver_relayed(self, partition_id: int, worker_id: str, job: dict[str, Any]) -> None:
        """A job another node's leader activated for a worker connected here: push it; if the
        stream is gone or full, free the job at once (only if still locked to that worker)."""
        deadline = job.get("deadline")
        if isinstance(deadline, int) and deadline <= time.time() * 1000:
            # Its lock ran out on the way (a backlog): the leader expires it and hands it out
            # again; giving it to the worker now could let two workers hold it at once.
            self.relay_stats["relay_expired"] += 1
            return
        stream = self._by_worker.get(worker_id)
        if stream is not None and stream.deliver(job):
            self.relay_stats["relayed"] += 1
            return
        self.relay_stats["relay_undelivered"] += 1
        self.release_undelivered(partition_id, worker_id, [int(job["key"])])

    def release_undelivered(self, partition_id: int, worker_id: str, job_keys: list[int]) -> None:
        """Free jobs activated for a worker that will never see them (in the background)."""
        if self._stopped or not job_keys:
            return
        command = ReleaseJobs(worker=worker_id, job_keys=job_keys)
        task = asyncio.ensure_future(self._release(partition_id, command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, partition_id: int, command: ReleaseJobs) -> None:
        try:
            outcome = await self.cluster.submit(partition_id, command)
        except Exception as exc:  # the lock still expires
            log.warning("partition %s: releasing an undelivered job failed: %s", partition_id, exc)
            return
        if outcome.error is not None:
            log.warning("partition %s: release_jobs refused: %s", partition_id, outcome.error)

    def subscribe(
        self, stream: WorkerStream, job_type: str, lock_ms: int = 0, jobs_max: int = 0
    ) -> None:
        job_type = job_type.strip()
        if not job_type:
            raise BadRequest("subscription needs a job_type; it was empty")
        if len(job_type) > JOB_TYPE_CHARS_MAX:
            raise BadRequest(f"job_type is longer than {JOB_TYPE_CHARS_MAX} characters")
        if lock_ms < 0 or jobs_max < 0:
            raise BadRequest("lock_duration and max_active_jobs must not be negative")
        lock = self.settings.lock_ms(lock_ms)
        limit = self.settings.worker_jobs(jobs_max)
        stream.subscriptions[job_type] = (lock, limit)
        for pid, link in self._links.items():
            link.subscribe(stream, job_type, lock, self.share(limit, pid))
        for peer in self._peers.values():
            peer.subscribe(stream.worker_id, job_type, lock, limit)

    def share(self, jobs_max: int, partition_id: int) -> int:
        """The part of a worker's in-flight limit partition `partition_id` may fill."""
        return partition_share(jobs_max, partition_id, self.cluster.partition_ids)

    def unsubscribe(self, stream: WorkerStream, job_type: str) -> None:
        job_type = job_type.strip()
        if not job_type:
            raise BadRequest("unsubscription needs a job_type; it was empty")
        stream.subscriptions.pop(job_type, None)
        for link in self._links.values():
            link.unsubscribe(stream.worker_id, job_type)
        for peer in self._peers.values():
            peer.unsubscribe(stream.worker_id, job_type)

    # ------------------------------------------------------ complete / fail

    def variables_of(self, raw: bytes) -> dict[str, Any]:
        """Decode a request's JSON variables (empty means {}), within the size limit."""
        if len(raw) > self.settings.variables_bytes_max:
            raise TooLarge(
                f"variables are {len(raw)} bytes, the limit is {self.settings.variables_bytes_max}"
            )
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"variables are not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise BadRequest(f"variables must be a JSON object, not {type(value).__name__}")
        return value

    async def complete(
        self,
        stream: WorkerStream,
        key: int,
        variables: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> None:
        await self.service.complete_job(
            key, variables, worker=stream.worker_id, idempotency_key=idempotency_key
        )

    async def fail(
        self,
        stream: WorkerStream,
        key: int,
        *,
        message: str = "",
        error_code: str = "",
        variables: dict[str, Any] | None = None,
        retries: int | None = None,
        retry_backoff_ms: int | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.cluster.partition_of(key, "job")
        if retry_backoff_ms is not None and retry_backoff_ms < 0:
            raise BadRequest(f"job {key}: retry_backoff_ms must not be negative")
        await self.service.fail_job(
            key,
            retries=retries,
            error_code=error_code,
            message=message,
            variables=variables,
            retry_backoff_ms=retry_backoff_ms,
            worker=stream.worker_id,
            idempotency_key=idempotency_key,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "streams": len(self._streams),
            "partitions": [m.snapshot() for m in self.managers.values()],
            "peers": {node_id: link.snapshot() for node_id, link in self._peers.items()},
            **self.relay_stats,
        }


class EngineStateReader:
    """`StateReader` on the engine's queries, read on this node's replicas (production)."""

    def __init__(self, cluster: ClusterClient) -> None:
        self.cluster = cluster

    def activatable(self, partition_id: int, job_type: str, limit: int) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = self.cluster.read_replica(
            partition_id, "activatable_jobs", job_type=job_type, limit=limit
        )
        return found

    def activated(self, partition_id: int, limit: int) -> list[tuple[int, str, int]]:
        items, _total = self.cluster.read_replica(
            partition_id, "list_jobs", state="activated", offset=0, limit=limit
        )
        return [
            (int(i["key"]), str(i.get("worker") or ""), int(i["deadline"]))
            for i in items
            if isinstance(i.get("deadline"), int)
        ]


def settings_from_config(config: Config | None) -> Settings:
    """Stream settings with the node's configured limits where it has them."""
    limits = getattr(config, "limits", None)
    if limits is None:
        return Settings()
    base = Settings()
    return Settings(
        lock_ms_default=getattr(limits, "job_lock_timeout_ms", base.lock_ms_default),
        worker_jobs_default=getattr(limits, "worker_jobs_max", base.worker_jobs_default),
        variables_bytes_max=getattr(limits, "variables_bytes_max", base.variables_bytes_max),
        message_bytes_max=max(base.message_bytes_max, getattr(limits, "request_bytes_max", 0) or 0),
    )
