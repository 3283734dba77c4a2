"""Python SDK for external workers: one gRPC JobStream, jobs pushed, handlers run, results sent.

    from zennode.worker import Worker, JobError

    worker = Worker(["127.0.0.1:26501"])

    @worker.handler("charge-card")
    def charge(job):
        if job.variables["amount"] > 1000:
            raise JobError("TOO_MUCH", "amount over limit")   # caught by an error event
        return {"charged": True}                              # completes the job

    worker.run_forever()                                      # Ctrl-C stops it cleanly

A handler returns the variables to complete the job with (a dict, or None for none); raising
`JobError(code)` fails the job with that BPMN error code, any other exception fails it with the
message (the engine retries it while retries last, then raises an incident). Handlers may be
plain functions (run in a thread pool) or `async def` (run on the worker's loop).

At most `max_concurrency` handlers run at once; further pushed jobs wait in gRPC flow control.
The worker connects to one address at a time, and on a lost stream reconnects with exponential
back-off, trying the next address each time. A node that goes silent (frozen, or the network
to it cut: no reset, no refusal) is noticed by gRPC keepalive pings within
`KEEPALIVE_S + KEEPALIVE_TIMEOUT_S` (about twice the cluster's maximum election timeout, the
time its partitions take to fail over), and the worker moves on to the next address. Jobs it
held when the stream broke are freed by the node at once and pushed again (possibly to
another worker). Every result (complete or fail) carries an idempotency key, so results that
the broken stream may have lost are sent again on the next one: a result the node already
applied gets its first answer, never a second effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import random
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from zennode.api.proto import zenbpm_pb2 as pb
from zennode.api.proto import zenbpm_pb2_grpc as pb_grpc
from zennode.jobs import JobError

__all__ = ["Job", "JobError", "Worker"]

log = logging.getLogger("zennode.worker")

Handler = Callable[["Job"], dict[str, Any] | None | Awaitable[dict[str, Any] | None]]

OUTGOING_MAX = 1_024  # requests waiting to be written to the stream
RESULTS_RESENT_MAX = 256  # results re-sent on the next stream after one broke
ERRORS_KEPT = 100  # last ErrorResults kept for inspection
MESSAGE_BYTES_MAX = 4 * 1024 * 1024
KEEPALIVE_S = 1.0  # ping the node this often (the node allows it: api/grpc_server.py)...
KEEPALIVE_TIMEOUT_S = 2.0  # ... and give up on the stream when a ping is not answered in this


class Job(dict[str, Any]):
    """A pushed job: a dict (`job["variables"]`) with attribute access for the common fields."""

    @classmethod
    def from_wire(cls, wire: pb.WaitingJob) -> Job:
        return cls(
            key=wire.key,
            type=wire.type,
            variables=_json_object(wire.input_variables),
            headers=_json_object(wire.custom_headers),
            element_id=wire.element_id,
            instance_key=wire.instance_key,
            element_instance_key=wire.element_instance_key,
            created_at=wire.created_at,
            retries=wire.retries,
            deadline=wire.deadline,
            worker=wire.worker,
        )

    key = property(lambda self: self["key"])
    type = property(lambda self: self["type"])
    variables = property(lambda self: self["variables"])
    headers = property(lambda self: self["headers"])
    element_id = property(lambda self: self["element_id"])
    instance_key = property(lambda self: self["instance_key"])
    retries = property(lambda self: self["retries"])
    deadline = property(lambda self: self["deadline"])


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


class _Subscription:
    def __init__(self, fn: Handler, lock_ms: int, jobs_max: int) -> None:
        self.fn = fn
        self.lock_ms = lock_ms
        self.jobs_max = jobs_max
        self.is_async = inspect.iscoroutinefunction(fn)


class Worker:
    """A job worker connected to one zennode node at a time (see the module docstring)."""

    def __init__(
        self,
        addresses: Sequence[str] | str,
        client_id: str | None = None,
        *,
        max_concurrency: int = 8,
        max_active_jobs: int | None = None,
        lock_duration_ms: int = 0,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 5.0,
        on_error: Callable[[int, str, int], None] | None = None,
        token: str | None = None,
        tls_root_cert: bytes | str | None = None,
    ) -> None:
        """`token`: sent as `authorization: Bearer <token>` (nodes with `auth.tokens`).
        `tls_root_cert`: PEM bytes, or a path to a PEM file, of the CA (or self-signed
        certificate) to trust; given, the worker connects with TLS."""
        if isinstance(addresses, str):
            addresses = [addresses]
        if not addresses:
            raise ValueError("give at least one node address (host:port)")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.addresses = list(addresses)
        self.client_id = client_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.max_concurrency = max_concurrency
        self.max_active_jobs = max_active_jobs or 2 * max_concurrency
        self.lock_duration_ms = lock_duration_ms
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.on_error = on_error
        self._metadata: tuple[tuple[str, str], ...] = (("client_id", self.client_id),)
        if token:
            self._metadata += (("authorization", f"Bearer {token}"),)
        self._credentials: grpc.ChannelCredentials | None = None
        if tls_root_cert is not None:
            if isinstance(tls_root_cert, str):
                with open(tls_root_cert, "rb") as pem:
                    tls_root_cert = pem.read()
            self._credentials = grpc.ssl_channel_credentials(root_certificates=tls_root_cert)
        self.errors: deque[tuple[int, str, int]] = deque(maxlen=ERRORS_KEPT)
        self.stats = {"received": 0, "completed": 0, "failed": 0, "connects": 0}
        self._subs: dict[str, _Subscription] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._stop: asyncio.Event | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._outgoing: asyncio.Queue[pb.JobStreamRequest | None] | None = None
        # Results (complete / fail) that a broken stream may have lost: each carries an
        # idempotency key, so re-sending them on the next stream applies each at most once.
        self._resend: deque[pb.JobStreamRequest] = deque(maxlen=RESULTS_RESENT_MAX)
        self._call: Any = None
        self._connected: asyncio.Event | None = None

    def handler(
        self,
        job_type: str,
        *,
        lock_duration_ms: int | None = None,
        max_active_jobs: int | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator: run the function for every job of `job_type` pushed to this worker."""
        if not job_type:
            raise ValueError("job_type must not be empty")

        def register(fn: Handler) -> Handler:
            self._subs[job_type] = _Subscription(
                fn,
                lock_duration_ms if lock_duration_ms is not None else self.lock_duration_ms,
                max_active_jobs or self.max_active_jobs,
            )
            return fn

        return register

    # ------------------------------------------------------------- running

    def run_forever(self) -> None:
        """Run until Ctrl-C / SIGTERM-as-KeyboardInterrupt; then stop cleanly."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self.run())

    async def run(self) -> None:
        """Connect, serve jobs, reconnect on loss, until `stop()` is called."""
        if not self._subs:
            raise ValueError("register at least one @worker.handler before running")
        self._stop = asyncio.Event()
        self._connected = asyncio.Event()
        self._slots = asyncio.Semaphore(self.max_concurrency)
        self._executor = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="zn-worker")
        attempt = 0
        index = 0
        try:
            while not self._stop.is_set():
                address = self.addresses[index % len(self.addresses)]
                try:
                    got_jobs = await self._session(address)
                except Exception:
                    log.exception("worker %s: session with %s failed", self.client_id, address)
                    got_jobs = False
                if self._stop.is_set():
                    break
                attempt = 0 if got_jobs else attempt + 1
                index += 1
                delay = min(self.reconnect_max_s, self.reconnect_min_s * 2 ** min(attempt, 16))
                delay *= random.uniform(0.5, 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            if self._running:
                await asyncio.wait(self._running, timeout=5)
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until the stream is open and the subscriptions are sent (tests, scripts)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._connected is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("worker did not start")
            await asyncio.sleep(0.01)
        await asyncio.wait_for(
            self._connected.wait(), max(0.0, deadline - asyncio.get_running_loop().time())
        )

    async def stop(self, timeout: float = 10.0) -> None:
        """Take no new jobs, let running handlers finish and send results, close the stream."""
        if self._stop is None:
            return
        self._stop.set()
        if self._running:
            await asyncio.wait(self._running, timeout=timeout)
        if self._outgoing is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._outgoing.put_nowait(None)  # half-close: the node ends the stream
        call = self._call
        if call is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, grpc.aio.AioRpcError):
                await asyncio.wait_for(call.wait_for_connection(), 0.1)
            for _ in range(int(timeout * 20)):
                if call.done():
                    break
                await asyncio.sleep(0.05)
            call.cancel()

    # ------------------------------------------------------------- session

    async def _session(self, address: str) -> bool:
        """One stream to one node; returns whether it worked (got jobs or ran a while)."""
        assert self._stop is not None and self._connected is not None
        outgoing: asyncio.Queue[pb.JobStreamRequest | None] = asyncio.Queue(OUTGOING_MAX)
        for job_type, sub in self._subs.items():
            outgoing.put_nowait(
                pb.JobStreamRequest(
                    subscription=pb.StreamSubscriptionRequest(
                        job_type=job_type,
                        type=pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE,
                        lock_duration=sub.lock_ms,
                        max_active_jobs=sub.jobs_max,
                    )
                )
            )

        while self._resend:
            outgoing.put_nowait(self._resend.popleft())
        written: deque[pb.JobStreamRequest] = deque(maxlen=RESULTS_RESENT_MAX)

        options = [
            ("grpc.max_receive_message_length", MESSAGE_BYTES_MAX),
            ("grpc.max_send_message_length", MESSAGE_BYTES_MAX),
            ("grpc.keepalive_time_ms", int(KEEPALIVE_S * 1000)),
            ("grpc.keepalive_timeout_ms", int(KEEPALIVE_TIMEOUT_S * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        worked = False
        if self._credentials is None:
            channel_cm = grpc.aio.insecure_channel(address, options=options)
        else:
            channel_cm = grpc.aio.secure_channel(address, self._credentials, options=options)
        async with channel_cm as channel:
            # Reader/writer style with a writer task this session owns (a request generator
            # would leave gRPC's consumer task pending in it when the stream ends by itself).
            call = pb_grpc.ZenBpmStub(channel).JobStream(metadata=self._metadata)
            self._call = call
            self._outgoing = outgoing
            writer = asyncio.ensure_future(_write_all(call, outgoing, written))
            try:
                await call.wait_for_connection()
                self.stats["connects"] += 1
                self._connected.set()
                log.info("worker %s connected to %s", self.client_id, address)
                async for response in call:
                    worked = True
                    if response.HasField("error"):
                        self._record_error(response)
                    elif response.HasField("job"):
                        await self._accept(response.job, outgoing)
            except grpc.aio.AioRpcError as exc:
                if not self._stop.is_set():
                    log.warning(
                        "worker %s: stream to %s ended: %s %s",
                        self.client_id,
                        address,
                        exc.code().name,
                        exc.details(),
                    )
            finally:
                self._connected.clear()
                self._outgoing = None
                self._call = None
                call.cancel()
                writer.cancel()
                await asyncio.wait({writer})
                if not self._stop.is_set():
                    self._keep_for_resend(written, outgoing)
        return worked

    def _keep_for_resend(
        self,
        written: deque[pb.JobStreamRequest],
        outgoing: asyncio.Queue[pb.JobStreamRequest | None],
    ) -> None:
        """After a broken stream: results written to it (maybe lost in transit) and those
        never written go out again on the next stream, with their idempotency keys."""
        self._resend.extend(written)
        while not outgoing.empty():
            item = outgoing.get_nowait()
            if item is not None and item.WhichOneof("request") in ("complete", "fail"):
                self._resend.append(item)

    def _record_error(self, response: pb.JobStreamResponse) -> None:
        entry = (response.error.code, response.error.message, response.job.key)
        self.errors.append(entry)
        log.warning("worker %s: node reported: %s", self.client_id, response.error.message)
        if self.on_error is not None:
            try:
                self.on_error(*entry)
            except Exception:
                log.exception("on_error callback failed")

    async def _accept(
        self, wire: pb.WaitingJob, outgoing: asyncio.Queue[pb.JobStreamRequest | None]
    ) -> None:
        try:
            job = Job.from_wire(wire)
        except ValueError as exc:  # the node sent variables or headers that are not JSON
            message = f"worker could not decode the job: {exc}"
            await outgoing.put(
                pb.JobStreamRequest(fail=pb.JobFailRequest(key=wire.key, message=message))
            )
            return
        await self._start_job(job, outgoing)

    async def _start_job(
        self, job: Job, outgoing: asyncio.Queue[pb.JobStreamRequest | None]
    ) -> None:
        assert self._slots is not None and self._stop is not None
        await self._slots.acquire()  # bounded: waiting here holds the stream back
        if self._stop.is_set():
            self._slots.release()
            return  # stopping: the node frees this job when the stream closes
        self.stats["received"] += 1
        task = asyncio.ensure_future(self._run_job(job, outgoing))
        self._running.add(task)
        task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        assert self._slots is not None
        self._slots.release()

    async def _run_job(self, job: Job, outgoing: asyncio.Queue[pb.JobStreamRequest | None]) -> None:
        sub = self._subs.get(job.type)
        request: pb.JobStreamRequest
        try:
            if sub is None:
                raise RuntimeError(f"no handler for job type {job.type!r}")
            if sub.is_async:
                result = await sub.fn(job)  # type: ignore[misc]
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._executor, sub.fn, job)
            if result is not None and not isinstance(result, dict):
                raise TypeError(f"handler returned {type(result).__name__}, expected a dict")
            request = pb.JobStreamRequest(
                complete=pb.JobCompleteRequest(
                    key=job.key,
                    variables=json.dumps(result or {}).encode(),
                    idempotency_key=uuid.uuid4().hex,
                )
            )
            self.stats["completed"] += 1
        except JobError as exc:
            request = pb.JobStreamRequest(
                fail=pb.JobFailRequest(
                    key=job.key,
                    error_code=exc.code,
                    message=exc.message,
                    idempotency_key=uuid.uuid4().hex,
                )
            )
            self.stats["failed"] += 1
        except Exception as exc:
            log.debug("worker %s: job %s (%s) failed: %r", self.client_id, job.key, job.type, exc)
            request = pb.JobStreamRequest(
                fail=pb.JobFailRequest(
                    key=job.key,
                    message=f"{type(exc).__name__}: {exc}",
                    idempotency_key=uuid.uuid4().hex,
                )
            )
            self.stats["failed"] += 1
        if outgoing is not self._outgoing:
            # The stream this job came on is gone (the node freed the job): send the result on
            # the next stream; its idempotency key makes a repeat harmless.
            current = self._outgoing
            if current is None:
                self._resend.append(request)
            else:
                await current.put(request)
            return
        await outgoing.put(request)


async def _write_all(
    call: Any,
    outgoing: asyncio.Queue[pb.JobStreamRequest | None],
    written: deque[pb.JobStreamRequest],
) -> None:
    """Write what the session queues until None (half-close) or the end of the call; results
    go to `written` first (they may be lost if the stream breaks now: resent on the next)."""
    try:
        while (item := await outgoing.get()) is not None:
            if item.WhichOneof("request") in ("complete", "fail"):
                written.append(item)
            await call.write(item)
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        return  # the stream ended: the session's read loop ends with it
