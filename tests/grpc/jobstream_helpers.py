"""The job stream on the wire, for tests: request builders and a raw stream client.

Nodes, ports, waits and BPMN models come from `support`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import grpc

from zennode.api.proto import zenbpm_pb2 as pb
from zennode.api.proto import zenbpm_pb2_grpc as pb_grpc


def subscribe(job_type: str, lock_ms: int = 0, jobs_max: int = 0) -> pb.JobStreamRequest:
    return pb.JobStreamRequest(
        subscription=pb.StreamSubscriptionRequest(
            job_type=job_type,
            type=pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE,
            lock_duration=lock_ms,
            max_active_jobs=jobs_max,
        )
    )


def complete(key: int, variables: Any = None, raw: bytes | None = None) -> pb.JobStreamRequest:
    data = raw if raw is not None else json.dumps(variables or {}).encode()
    return pb.JobStreamRequest(complete=pb.JobCompleteRequest(key=key, variables=data))


def fail(
    key: int,
    message: str = "",
    error_code: str = "",
    retries: int | None = None,
    backoff_ms: int | None = None,
) -> pb.JobStreamRequest:
    request = pb.JobFailRequest(key=key, message=message, error_code=error_code)
    if retries is not None:
        request.retries = retries
    if backoff_ms is not None:
        request.retry_backoff_ms = backoff_ms
    return pb.JobStreamRequest(fail=request)


class RawStream:
    """A JobStream driven by hand: send requests, receive responses with a bound."""

    def __init__(self, address: str, client_id: str | None = None) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._outgoing: asyncio.Queue[pb.JobStreamRequest | None] = asyncio.Queue(100)
        metadata = (("client_id", client_id),) if client_id else ()
        self.call = pb_grpc.ZenBpmStub(self._channel).JobStream(self._requests(), metadata=metadata)
        # Read in the background: cancelling a read would cancel the whole call.
        self._responses: asyncio.Queue[Any] = asyncio.Queue(10_000)
        self._reader = asyncio.ensure_future(self._read_all())

    async def _read_all(self) -> None:
        try:
            async for response in self.call:
                self._responses.put_nowait(response)
        except grpc.aio.AioRpcError as exc:
            self._responses.put_nowait(exc)
            return
        self._responses.put_nowait(grpc.aio.EOF)

    async def _requests(self) -> Any:
        while True:
            item = await self._outgoing.get()
            if item is None:
                return
            yield item

    async def send(self, request: pb.JobStreamRequest) -> None:
        await self._outgoing.put(request)

    async def recv(self, timeout: float = 5.0) -> pb.JobStreamResponse:
        response = await asyncio.wait_for(self._responses.get(), timeout)
        if isinstance(response, grpc.aio.AioRpcError):
            raise response
        assert response is not grpc.aio.EOF, "stream ended"
        return response

    async def recv_job(self, timeout: float = 5.0) -> pb.WaitingJob:
        response = await self.recv(timeout)
        assert response.HasField("job") and not response.HasField("error"), response
        return response.job

    async def close(self) -> None:
        self.call.cancel()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
        await self._channel.close()
