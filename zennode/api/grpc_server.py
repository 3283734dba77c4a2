"""Public gRPC server: `grpc.ZenBpm/JobStream`, wire-compatible with ZenBPM workers.

One bidirectional stream per worker. Requests (subscribe, unsubscribe, complete, fail) are
handled as they arrive, several at once (bounded per stream); activated jobs are pushed by the
job managers into the stream's queue and written here. A request that fails does not end the
stream: the worker gets `JobStreamResponse{error: ErrorResult{code, message}, job: {key}}`
with `code` the gRPC status number from the one table in `zennode.errors`, and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from zennode.api.auth import drain_requests, grpc_interceptors, grpc_server_credentials
from zennode.api.proto import zenbpm_pb2 as pb
from zennode.api.proto import zenbpm_pb2_grpc as pb_grpc
from zennode.api.zeebe import add_zeebe_gateway
from zennode.cluster.client import ClusterClient
from zennode.config import Config
from zennode.errors import BadRequest, ConfigError, ZennodeError, grpc_code_name
from zennode.jobs.streams import JobStreams, PushedJob, StreamError, WorkerStream
from zennode.service import Service

log = logging.getLogger("zennode.api.grpc")

CLIENT_ID_METADATA = "client_id"
_SUBSCRIBE = pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE
_UNSUBSCRIBE = pb.StreamSubscriptionRequest.TYPE_UNSUBSCRIBE


def status_number(code_name: str) -> int:
    """gRPC status name ("NOT_FOUND") to its wire number (5)."""
    return int(grpc.StatusCode[code_name].value[0])


def _millis(value: Any) -> int:
    """Unix ms from an int, float or ISO-8601 string (the REST job shape uses strings)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return int(parsed.timestamp() * 1000)
    return 0


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value if value is not None else {}, separators=(",", ":")).encode()


def waiting_job(job: dict[str, Any]) -> pb.WaitingJob:
    """The wire form of an activated job dict (the engine's job shape)."""
    return pb.WaitingJob(
        key=int(job["key"]),
        instance_key=int(job.get("processInstanceKey") or 0),
        input_variables=_json_bytes(job.get("variables")),
        type=str(job.get("type", "")),
        element_id=str(job.get("elementId", "")),
        created_at=_millis(job.get("createdAt")),
        custom_headers=_json_bytes(job.get("customHeaders")),
        retries=int(job.get("retries") or 0),
        deadline=_millis(job.get("deadline")),
        element_instance_key=int(job.get("elementInstanceKey") or 0),
        worker=str(job.get("worker") or ""),
    )


def error_response(code_name: str, message: str, job_key: int | None) -> pb.JobStreamResponse:
    response = pb.JobStreamResponse(
        error=pb.ErrorResult(code=status_number(code_name), message=message)
    )
    if job_key is not None:
        response.job.key = job_key
    return response


class ZenBpmService(pb_grpc.ZenBpmServicer):
    """`ZenBpm.JobStream` on top of the node's `JobStreams` (client side of the job manager)."""

    def __init__(self, streams: JobStreams) -> None:
        self.streams = streams

    async def JobStream(  # noqa: N802 - the RPC's name on the wire
        self,
        request_iterator: AsyncIterator[pb.JobStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.JobStreamResponse]:
        client_id = dict(context.invocation_metadata() or ()).get(CLIENT_ID_METADATA)
        try:
            stream = self.streams.open(client_id if isinstance(client_id, str) else None)
        except ZennodeError as exc:  # AlreadyExists: another stream holds this client_id
            # A worker sends its subscriptions right away: take them first, or the refusal
            # can reach it as INTERNAL instead of ALREADY_EXISTS (as for refused auth).
            await drain_requests(request_iterator)
            context.set_code(grpc.StatusCode[grpc_code_name(exc)])
            context.set_details(exc.message)
            return
        reader = asyncio.ensure_future(self._read(stream, request_iterator))
        try:
            while True:
                item = await stream.next_item()
                if item is None:
                    break
                if isinstance(item, PushedJob):
                    yield pb.JobStreamResponse(job=waiting_job(item.job))
                elif isinstance(item, StreamError):
                    yield error_response(item.code, item.message, item.job_key)
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            self.streams.close(stream)

    async def _read(
        self, stream: WorkerStream, requests: AsyncIterator[pb.JobStreamRequest]
    ) -> None:
        """Handle requests until the worker half-closes or the call ends; then end the stream."""
        limit = asyncio.Semaphore(self.streams.settings.stream_requests_max)
        running: set[asyncio.Task[None]] = set()
        try:
            async for request in requests:
                await limit.acquire()  # bounded: gRPC flow control holds the worker back
                task = asyncio.ensure_future(self._handle(stream, request))
                running.add(task)
                task.add_done_callback(lambda t: (running.discard(t), limit.release()))
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        except DecodeError as exc:  # bytes that are not a JobStreamRequest: say so, then end
            log.debug("stream %s: malformed request: %s", stream.worker_id, exc)
            stream.send_error("INVALID_ARGUMENT", f"malformed JobStreamRequest: {exc}", None)
        except Exception:
            log.exception("stream %s: reading requests failed", stream.worker_id)
        finally:
            if running:
                # Let completions already received finish before the stream's jobs are freed.
                await asyncio.wait(running, timeout=5)
            stream.end()

    async def _handle(self, stream: WorkerStream, request: pb.JobStreamRequest) -> None:
        kind = request.WhichOneof("request")
        job_key: int | None = None
        try:
            if kind == "subscription":
                self._subscription(stream, request.subscription)
            elif kind == "complete":
                job_key = request.complete.key
                variables = self._variables(job_key, request.complete.variables)
                await self.streams.complete(
                    stream, job_key, variables, request.complete.idempotency_key or None
                )
            elif kind == "fail":
                fail = request.fail
                job_key = fail.key
                await self.streams.fail(
                    stream,
                    job_key,
                    message=fail.message,
                    error_code=fail.error_code,
                    variables=self._variables(job_key, fail.variables),
                    retries=fail.retries if fail.HasField("retries") else None,
                    retry_backoff_ms=(
                        fail.retry_backoff_ms if fail.HasField("retry_backoff_ms") else None
                    ),
                    idempotency_key=fail.idempotency_key or None,
                )
            else:
                raise BadRequest("empty JobStreamRequest: set subscription, complete or fail")
        except ZennodeError as exc:
            message = exc.message
            if job_key is not None and str(job_key) not in message:
                message = f"job {job_key}: {message}"
            stream.send_error(grpc_code_name(exc), message, job_key)
        except Exception as exc:  # never let one request kill the stream or the node
            log.exception("stream %s: request failed", stream.worker_id)
            prefix = f"job {job_key}: " if job_key is not None else ""
            stream.send_error("INTERNAL", f"{prefix}internal error: {exc}", job_key)

    def _subscription(self, stream: WorkerStream, sub: pb.StreamSubscriptionRequest) -> None:
        if sub.type == _SUBSCRIBE:
            self.streams.subscribe(stream, sub.job_type, sub.lock_duration, sub.max_active_jobs)
        elif sub.type == _UNSUBSCRIBE:
            self.streams.unsubscribe(stream, sub.job_type)
        else:
            raise BadRequest(
                f"subscription for job type {sub.job_type!r} has type TYPE_UNDEFINED; "
                "use TYPE_SUBSCRIBE or TYPE_UNSUBSCRIBE"
            )

    def _variables(self, job_key: int, raw: bytes) -> dict[str, Any]:
        try:
            return self.streams.variables_of(raw)
        except ZennodeError as exc:
            exc.message = f"job {job_key}: {exc.message}"
            raise


async def start_grpc_server(
    config: Config, service: Service, cluster: ClusterClient, streams: JobStreams
) -> grpc.aio.Server:
    """Start `ZenBpm`, Zeebe's `Gateway` and gRPC health on the configured host and public
    gRPC port, on the running loop (the node's); return the server.

    The node owns `streams` (the job managers live as long as the node, not the server); the
    Zeebe gateway is closed when the server stops.
    """
    host, port = config.host, config.ports.grpc
    size = streams.settings.message_bytes_max
    server = grpc.aio.server(
        interceptors=grpc_interceptors(config),  # bearer tokens when configured
        options=[
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),
            # Workers ping every second to notice a silent node (zennode.worker.KEEPALIVE_S):
            # allow it, rather than answering GOAWAY "too many pings".
            ("grpc.http2.min_ping_interval_without_data_ms", 500),
            ("grpc.http2.max_ping_strikes", 0),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    pb_grpc.add_ZenBpmServicer_to_server(ZenBpmService(streams), server)
    # Zeebe's gateway_protocol.Gateway and the standard health service on the same port.
    gateway = await add_zeebe_gateway(server, service, cluster, streams)
    try:
        try:
            credentials = grpc_server_credentials(config)  # TLS when configured
            if credentials is None:
                bound = server.add_insecure_port(f"{host}:{port}")
            else:
                bound = server.add_secure_port(f"{host}:{port}", credentials)
        except RuntimeError as exc:
            raise ConfigError(f"port {port} (grpc) on {host} cannot be bound: {exc}") from exc
        if bound == 0:
            raise ConfigError(f"port {port} (grpc) on {host} cannot be bound")
        await server.start()
    except BaseException:
        await gateway.close()
        raise

    async def close_gateway_after_server() -> None:
        with contextlib.suppress(BaseException):
            await server.wait_for_termination()
        await gateway.close()

    task = asyncio.ensure_future(close_gateway_after_server())
    server._zennode_cleanup = task  # type: ignore[attr-defined]  # keep a reference
    return server
