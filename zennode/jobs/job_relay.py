"""The node-to-node job relay: the job stream across nodes, the internal gRPC service
`JobRelay` (`proto/jobs.proto`).

Not to be confused with the cross-partition command relay (`zennode.drivers.partition_relay`,
commands between partitions) or with forwarding (`zennode.cluster.client`, a request sent to
its partition's leader): this one carries worker subscriptions and activated jobs between
nodes.

Node A holds worker streams; partition p may be led by node B. A keeps ONE relay stream open
to every other member (`JobRelayLink`, client side), so the number of relay streams is bounded
by the cluster size, not by workers or partitions:

- up (A → B): every subscription, unsubscription and ended worker of A's streams. On (re)connect
  A first sends all its current subscriptions, so B's view is rebuilt after any break.
- down (B → A): each job a manager on B activated for one of A's workers (`RelayJob`), which A
  puts on the worker's stream (or frees at once with `release_jobs {jobKeys, worker}` when that
  stream is gone).

B (`JobRelayService`, server side) registers A's workers with the managers of ALL its local
replicas, leader or not: whichever replica leads a partition, now or after a leader change,
already knows every worker of the cluster, and round robin runs over all of them. When the relay
stream ends (A died, or either side heard nothing for `SILENCE_S`), B forgets A's workers and
the leaders among its managers free their jobs at once (`release_jobs {worker}`).

Client ids are cluster-wide: every opened worker stream goes up too (`RelayOpenWorker`, with
its wall-clock opening time, and again on every resync), so B knows which client ids stream on
A (`JobRelayService.holder_of`) and B's `JobStreams` refuses them (ALREADY_EXISTS). Two nodes
that opened the same client id before hearing of each other (within a relay round trip, or
across a relay break) both learn it from the other's announcement and settle it the same way:
the stream opened later ends with ALREADY_EXISTS (equal times: the one on the higher node id).

Jobs going down are batched: the writer takes whatever queued meanwhile (up to `BATCH_MAX`)
into one message, so a burst costs one gRPC write, not one per job. Both directions send a
heartbeat every `HEARTBEAT_S` when idle; every queue is bounded. Calls carry the
cluster secret in `x-zennode-secret` like the cluster service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc

from zennode.config import Config, Member
from zennode.jobs.proto import jobs_pb2 as pb
from zennode.jobs.proto import jobs_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from zennode.jobs.streams import JobStreams

log = logging.getLogger("zennode.jobs.job_relay")

SECRET_HEADER = "x-zennode-secret"  # the same header as zennode.cluster.wire
HEARTBEAT_S = 1.0  # each side sends at least this often
# A relay that heard nothing for this long is closed (a hung, frozen or cut-off peer): three
# missed heartbeats, about twice the maximum election timeout, so a silent leader's relay goes
# about when its partitions fail over (docs/cluster.md, "forwarding follows leadership").
SILENCE_S = 3.0
RECONNECT_GRACE_S = 1.5  # a closed relay's workers are freed after this unless they come back
UP_QUEUE_MAX = 20_000  # subscription messages waiting to go to one peer
DOWN_QUEUE_MAX = 8_192  # jobs waiting to go to one node
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0
MESSAGE_BYTES_MAX = 8 * 1024 * 1024  # a job with its variables, and the framing around it
BATCH_MAX = 64  # jobs in one RelayDown message
BATCH_BYTES_MAX = 1024 * 1024  # ... and their JSON at most this big (one job may exceed it)
_HEARTBEAT = object()  # a queue marker: send a heartbeat


def _channel_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", MESSAGE_BYTES_MAX),
        ("grpc.max_send_message_length", MESSAGE_BYTES_MAX),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


# ----------------------------------------------------------------- server side (leaders)


class _RemoteSink:
    """A worker connected to another node, as a job manager's `WorkerSink`."""

    __slots__ = ("worker_id", "_relay", "_partition_id")

    def __init__(self, relay: _IncomingRelay, worker_id: str, partition_id: int) -> None:
        self.worker_id = worker_id
        self._relay = relay
        self._partition_id = partition_id

    def deliver(self, job: dict[str, Any]) -> bool:
        return self._relay.push(self._partition_id, self.worker_id, job)


class _IncomingRelay:
    """One node's relay stream into this node: its workers and the bounded queue of pushes."""

    def __init__(self, service: JobRelayService, streams: JobStreams, from_node: int) -> None:
        self.service = service
        self.streams = streams
        self.from_node = from_node
        self.closed = False
        self.last_heard = time.monotonic()
        # worker id -> partition id -> sink (one per local manager, reused on resubscribe)
        self._sinks: dict[str, dict[int, _RemoteSink]] = {}
        self.types: dict[str, set[str]] = {}  # worker id -> subscribed job types
        self.opened: set[str] = set()  # worker ids announced by `open` (their client ids)
        # (job key, RelayJob) | _HEARTBEAT | None (end)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(DOWN_QUEUE_MAX)
        self._sent_at = time.monotonic()
        self._ended = False

    def push(self, partition_id: int, worker_id: str, job: dict[str, Any]) -> bool:
        if self.closed or worker_id not in self._sinks:
            return False
        try:
            raw = json.dumps(job, separators=(",", ":")).encode()
            message = pb.RelayJob(partition_id=partition_id, worker_id=worker_id, job_json=raw)
            self._queue.put_nowait((int(job["key"]), message))
        except (asyncio.QueueFull, TypeError, ValueError, KeyError):
            return False  # the manager frees the job at once
        self.service.stats["pushed"] += 1
        return True

    def handle(self, message: pb.RelayUp) -> None:
        self.last_heard = time.monotonic()
        kind = message.WhichOneof("message")
        managers = self.streams.managers
        if kind == "subscribe":
            sub = message.subscribe
            if not sub.worker_id or not sub.job_type:
                return
            self.service.owner[sub.worker_id] = self
            self.types.setdefault(sub.worker_id, set()).add(sub.job_type)
            sinks = self._sinks.setdefault(sub.worker_id, {})
            limit = self.streams.settings.worker_jobs(sub.jobs_max)
            lock = self.streams.settings.lock_ms(sub.lock_ms)
            for pid, manager in managers.items():
                sink = sinks.get(pid)
                if sink is None:
                    sink = sinks[pid] = _RemoteSink(self, sub.worker_id, pid)
                manager.subscribe(
                    sink, sub.job_type, lock, self.streams.share(limit, pid), local=False
                )
        elif kind == "unsubscribe":
            unsub = message.unsubscribe
            self.types.get(unsub.worker_id, set()).discard(unsub.job_type)
            for manager in managers.values():
                manager.unsubscribe(unsub.worker_id, unsub.job_type)
        elif kind == "remove":
            worker_id = message.remove.worker_id
            self._sinks.pop(worker_id, None)
            self.types.pop(worker_id, None)
            self._forget_client(worker_id)
            if self.service.owner.get(worker_id) is self:
                self.service.remove_worker(worker_id)
        elif kind == "open":
            worker_id, opened_at = message.open.worker_id, int(message.open.opened_at_ms)
            if not worker_id:
                return
            client_id = client_of(worker_id)
            self.opened.add(worker_id)
            self.service.clients[client_id] = (self, worker_id)
            self.streams.claimed_elsewhere(client_id, opened_at, self.from_node)

    def _forget_client(self, worker_id: str) -> None:
        self.opened.discard(worker_id)
        clients = self.service.clients
        client_id = client_of(worker_id)
        if clients.get(client_id) == (self, worker_id):
            del clients[client_id]

    def close(self) -> None:
        """The relay ended: stop handing jobs to that node's workers at once; free their jobs
        after `RECONNECT_GRACE_S` unless a new relay from the node took them back by then (a
        break between two live nodes must not free jobs that live workers still hold)."""
        if self.closed:
            return
        self.closed = True
        for worker_id in list(self.opened):  # that node's client ids are free here at once
            self._forget_client(worker_id)
        self._release_unsent()
        self._queue.put_nowait(None)  # wake the writer (the queue is empty now)
        for worker_id, job_types in self.types.items():
            if self.service.owner.get(worker_id) is self:
                for manager in self.streams.managers.values():
                    for job_type in job_types:
                        manager.unsubscribe(worker_id, job_type)
        workers = list(self.types)
        asyncio.get_running_loop().call_later(
            RECONNECT_GRACE_S, self.service.remove_orphans, self, workers
        )

    def _release_unsent(self) -> None:
        """Jobs still queued will never reach their worker: free them now (each only if still
        locked to that worker), not when their lock runs out."""
        unsent: dict[tuple[int, str], list[int]] = {}
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, tuple):
                key, message = item
                unsent.setdefault((message.partition_id, message.worker_id), []).append(key)
        for (partition_id, worker_id), keys in unsent.items():
            self.streams.release_undelivered(partition_id, worker_id, keys)

    def tick(self) -> None:
        """Once per HEARTBEAT_S: close a silent relay; queue a heartbeat if nothing went down."""
        now = time.monotonic()
        if now - self.last_heard > SILENCE_S:
            log.warning("job relay from node %s went silent", self.from_node)
            self.close()
        elif now - self._sent_at >= HEARTBEAT_S and self._queue.empty():
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_HEARTBEAT)

    async def next_message(self) -> pb.RelayDown | None:
        """The jobs queued meanwhile (at least one, or a heartbeat); None once closed."""
        if self._ended:
            return None
        item = await self._queue.get()
        jobs: list[pb.RelayJob] = []
        size = 0
        while True:
            if item is None:
                self._ended = True
                break
            if item is not _HEARTBEAT:
                jobs.append(item[1])
                size += len(item[1].job_json)
            if len(jobs) >= BATCH_MAX or size >= BATCH_BYTES_MAX or self._queue.empty():
                break
            item = self._queue.get_nowait()
        if self._ended and not jobs:
            return None
        self._sent_at = time.monotonic()
        return pb.RelayDown(jobs=jobs)


class JobRelayService(pb_grpc.JobRelayServicer):
    """`JobRelay` on the internal gRPC server: members only (the cluster secret)."""

    def __init__(self, streams: JobStreams, secret: str) -> None:
        self.streams = streams
        self._secret = (secret or "").encode()
        self.relays: dict[int, _IncomingRelay] = {}  # member id -> its open relay
        self.owner: dict[str, _IncomingRelay] = {}  # worker id -> the relay that brought it
        # client id -> (the relay of the node streaming it, its worker id)
        self.clients: dict[str, tuple[_IncomingRelay, str]] = {}
        self.stats = {"pushed": 0, "orphans_freed": 0}

    def holder_of(self, client_id: str) -> int | None:
        """The node id of another node that streams `client_id` now (as far as heard)."""
        entry = self.clients.get(client_id)
        return entry[0].from_node if entry is not None and not entry[0].closed else None

    def remove_worker(self, worker_id: str) -> None:
        """Forget the worker on every local manager; the leaders free its jobs."""
        self.owner.pop(worker_id, None)
        for manager in self.streams.managers.values():
            manager.remove_worker(worker_id)

    def remove_orphans(self, relay: _IncomingRelay, workers: list[str]) -> None:
        """After a relay's grace: free the workers no newer relay subscribed again."""
        for worker_id in workers:
            if self.owner.get(worker_id) is relay:
                self.stats["orphans_freed"] += 1
                self.remove_worker(worker_id)

    def _authorized(self, context: grpc.aio.ServicerContext) -> bool:
        given = ""
        for key, value in context.invocation_metadata() or ():
            if key == SECRET_HEADER:
                given = value if isinstance(value, str) else value.decode()
        return bool(self._secret) and hmac.compare_digest(given.encode(), self._secret)

    async def Relay(  # noqa: N802 - the RPC's name on the wire
        self, request_iterator: AsyncIterator[pb.RelayUp], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.RelayDown]:
        if not self._authorized(context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "not a member of this cluster")
            return
        streams = self.streams
        requests = request_iterator.__aiter__()
        try:
            first = await asyncio.wait_for(requests.__anext__(), SILENCE_S)
        except (StopAsyncIteration, TimeoutError, grpc.aio.AioRpcError):
            return
        if first.WhichOneof("message") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a relay starts with hello")
            return
        relay = _IncomingRelay(self, streams, first.hello.from_node)
        previous = self.relays.get(relay.from_node)
        if previous is not None:
            previous.close()  # the node reconnected: its old stream is dead
        self.relays[relay.from_node] = relay
        log.info("job relay from node %s opened", relay.from_node)
        reader = asyncio.ensure_future(self._read(relay, requests))
        ticker = asyncio.ensure_future(_every(HEARTBEAT_S, relay.tick))
        try:
            while True:
                message = await relay.next_message()
                if message is None:
                    break
                yield message
        finally:
            relay.close()
            for task in (reader, ticker):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            if self.relays.get(relay.from_node) is relay:
                del self.relays[relay.from_node]
            log.info("job relay from node %s closed", relay.from_node)

    async def _read(self, relay: _IncomingRelay, requests: AsyncIterator[pb.RelayUp]) -> None:
        try:
            async for message in requests:
                relay.handle(message)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        except Exception:
            log.exception("job relay from node %s: reading failed", relay.from_node)
        finally:
            relay.close()


async def _write_all(call: Any, out: asyncio.Queue[pb.RelayUp]) -> None:
    """Write what the session queues on `call` until the call ends (or this is cancelled)."""
    try:
        while True:
            message = await out.get()
            await call.write(message)
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        return  # the call ended: the session's read loop ends with it


async def _every(interval_s: float, fn: Any) -> None:
    while True:
        await asyncio.sleep(interval_s)
        fn()


def add_job_relay(server: grpc.aio.Server, streams: JobStreams, secret: str) -> JobRelayService:
    """Serve `JobRelay` on the node's internal gRPC server (call before it starts); the node's
    streams then refuse the client ids other nodes stream."""
    service = JobRelayService(streams, secret)
    pb_grpc.add_JobRelayServicer_to_server(service, server)
    streams.use_remote_clients(service.holder_of)
    return service


def client_of(worker_id: str) -> str:
    """The client id of a worker id (`<client_id>#<suffix>`, see `WorkerStream`)."""
    return worker_id.rsplit("#", 1)[0]


# ------------------------------------------------------- client side (nodes with workers)


class JobRelayLink:
    """This node's job relay stream to one other member; reconnects with back-off forever."""

    def __init__(self, streams: JobStreams, member: Member, config: Config) -> None:
        self.streams = streams
        self.node_id = int(member.id)
        self.address = f"{member.host}:{member.ports.internal}"
        self._from_node = int(config.node_id)
        self._metadata = ((SECRET_HEADER, config.secret or ""),)
        self._out: asyncio.Queue[pb.RelayUp] | None = None  # the open session's, else None
        self._task: asyncio.Task[None] | None = None
        self._channel: grpc.aio.Channel | None = None
        self._closed = False
        self.connected = False
        self._session_call: Any = None  # the open call, cancelled to force a resync
        self.stats = {"sessions": 0, "jobs": 0}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"job-relay-to-{self.node_id}"
        )

    async def stop(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close(grace=0.2)
            self._channel = None

    # ---- what JobStreams calls (on the loop; never blocks)

    def subscribe(self, worker_id: str, job_type: str, lock_ms: int, jobs_max: int) -> None:
        self._send(
            pb.RelayUp(
                subscribe=pb.RelaySubscribe(
                    worker_id=worker_id, job_type=job_type, lock_ms=lock_ms, jobs_max=jobs_max
                )
            )
        )

    def unsubscribe(self, worker_id: str, job_type: str) -> None:
        self._send(
            pb.RelayUp(unsubscribe=pb.RelayUnsubscribe(worker_id=worker_id, job_type=job_type))
        )

    def remove_worker(self, worker_id: str) -> None:
        self._send(pb.RelayUp(remove=pb.RelayRemoveWorker(worker_id=worker_id)))

    def open_worker(self, worker_id: str, opened_at_ms: int) -> None:
        self._send(
            pb.RelayUp(open=pb.RelayOpenWorker(worker_id=worker_id, opened_at_ms=opened_at_ms))
        )

    def _send(self, message: pb.RelayUp) -> None:
        """Queue for the open session; with none, the next one's resync carries the state."""
        if self._out is None:
            return
        try:
            self._out.put_nowait(message)
        except asyncio.QueueFull:
            # The peer does not keep up: drop this session; the next one resyncs everything.
            log.warning("job relay to node %s: queue full, reconnecting", self.node_id)
            self._out = None
            if self._session_call is not None:
                self._session_call.cancel()

    # ---- the session loop

    async def _run(self) -> None:
        delay = RECONNECT_MIN_S
        while not self._closed:
            started = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.debug("job relay to node %s: %s", self.node_id, exc.code().name)
            except Exception:
                log.exception("job relay to node %s failed", self.node_id)
            finally:
                self._out = None
                self._session_call = None
                if self.connected:
                    log.info("job relay to node %s closed", self.node_id)
                self.connected = False
            if time.monotonic() - started > 5:
                delay = RECONNECT_MIN_S  # it ran a while: the next break starts over
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _session(self) -> None:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=_channel_options())
        out: asyncio.Queue[pb.RelayUp] = asyncio.Queue(UP_QUEUE_MAX)
        out.put_nowait(pb.RelayUp(hello=pb.RelayHello(from_node=self._from_node)))
        # Snapshot and install in one step on the loop: later changes queue behind the resync.
        opened = self.streams.open_workers()[: UP_QUEUE_MAX // 2]
        for worker_id, opened_at in opened:
            out.put_nowait(
                pb.RelayUp(open=pb.RelayOpenWorker(worker_id=worker_id, opened_at_ms=opened_at))
            )
        room = UP_QUEUE_MAX - 1 - len(opened)
        for worker_id, job_type, lock, limit in self.streams.subscriptions()[:room]:
            out.put_nowait(
                pb.RelayUp(
                    subscribe=pb.RelaySubscribe(
                        worker_id=worker_id, job_type=job_type, lock_ms=lock, jobs_max=limit
                    )
                )
            )
        self._out = out

        # Reader/writer style with a writer task this session owns: with a request generator,
        # gRPC's own consumer task stays blocked in it when the call ends by itself (cancel()
        # of a finished call does not stop it), and is later destroyed pending ("Task was
        # destroyed but it is pending!", "aclose(): asynchronous generator is already running").
        call = pb_grpc.JobRelayStub(self._channel).Relay(metadata=self._metadata)
        self._session_call = call
        self.stats["sessions"] += 1
        writer = asyncio.ensure_future(_write_all(call, out))
        heard = [time.monotonic()]

        def tick() -> None:
            """Heartbeat up; drop a session that heard nothing for SILENCE_S."""
            if time.monotonic() - heard[0] > SILENCE_S:
                log.warning("job relay to node %s went silent", self.node_id)
                call.cancel()
            elif out.empty():
                with contextlib.suppress(asyncio.QueueFull):
                    out.put_nowait(pb.RelayUp(heartbeat=pb.RelayHeartbeat()))

        ticker = asyncio.ensure_future(_every(HEARTBEAT_S, tick))
        try:
            async for message in call:
                heard[0] = time.monotonic()
                if not self.connected:
                    self.connected = True
                    log.info("job relay to node %s open", self.node_id)
                for job in message.jobs:
                    self._deliver(job)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the link is stopping
            # else: this session's call was cancelled (silent peer, full queue): reconnect
        finally:
            call.cancel()  # no-op once it ended
            for task in (writer, ticker):
                task.cancel()
            await asyncio.wait({writer, ticker})  # both end now: nothing is left pending

    def _deliver(self, relayed: pb.RelayJob) -> None:
        try:
            job = json.loads(relayed.job_json)
        except ValueError:
            log.warning("job relay from node %s: a job that is not JSON", self.node_id)
            return
        if not isinstance(job, dict) or not isinstance(job.get("key"), int):
            return
        self.stats["jobs"] += 1
        self.streams.deliver_relayed(int(relayed.partition_id), relayed.worker_id, job)

    def snapshot(self) -> dict[str, Any]:
        return {"connected": self.connected, **self.stats}
