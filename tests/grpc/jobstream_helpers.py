"""Shared helpers for the job stream tests: free ports, bounded waits, a raw stream client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from zennode.api.proto import zenbpm_pb2 as pb
from zennode.api.proto import zenbpm_pb2_grpc as pb_grpc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


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


# ---------------------------------------------------------------- a real node in a thread

READY_TIMEOUT_S = 20.0


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(partitions: int) -> int:
    """A `--port-base` whose whole layout (N..N+2, N+11..N+10+P) is free now."""
    from zennode.config import PORT_OFFSET_RAFT_BASE

    for _ in range(200):
        base = random.randrange(20_000, 60_000, 20)
        wanted = [base, base + 1, base + 2]
        wanted += [base + PORT_OFFSET_RAFT_BASE + p for p in range(1, partitions + 1)]
        if all(_port_free(p) for p in wanted):
            return base
    raise RuntimeError("no free port range found")


class NodeInThread:
    """A real `Node` (Raft partitions, LMDB, engine, gRPC) on its own loop in a thread.

    The test's own loop runs the workers; `await self.call(coro)` runs `coro` on the node's.
    """

    def __init__(self, data_dir: Path, partitions: int = 1, **limits: Any) -> None:
        from zennode.config import default_config
        from zennode.node import Node

        config = default_config()
        config = dataclasses.replace(
            config,
            partitions=partitions,
            limits=dataclasses.replace(config.limits, **limits),
        )
        config = config.with_overrides(data_dir=str(data_dir), port_base=free_port_base(partitions))
        self.node = Node(config, serve_http=False, serve_grpc=True)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.node.config.ports.grpc}"

    def start(self) -> NodeInThread:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.node.start(), self.loop)
        future.result(READY_TIMEOUT_S)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(p.is_leader for p in self.node.cluster.local_partitions.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("node did not elect its leaders")
            time.sleep(0.02)
        return self

    async def call(self, coro: Any, timeout: float = 10.0) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()

    async def deploy(self, xml: str) -> dict[str, Any]:
        return await self.call(self.node.service.deploy(xml.encode()))

    async def start_instance(self, process_id: str, variables: Any = None) -> int:
        result = await self.call(
            self.node.service.create_instance(bpmn_process_id=process_id, variables=variables or {})
        )
        return int(result["processInstanceKey"])

    async def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        result = await self.call(self.node.service.list_jobs(page=1, size=100, **filters))
        return [job for part in result["partitions"] for job in part["items"]]

    async def instance(self, key: int) -> dict[str, Any]:
        return await self.call(self.node.service.get_instance(key))


BPMN_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="http://zennode/t">
"""


def one_task_bpmn(process_id: str, job_type: str, retries: int = 3) -> str:
    """start -> service task (job_type, header kind=test) -> end."""
    return f"""{BPMN_HEADER}
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" retries="{retries}"/>
        <zeebe:taskHeaders><zeebe:header key="kind" value="test"/></zeebe:taskHeaders>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
