"""The job stream end to end on one real node: Raft partition, LMDB, engine, gRPC, worker SDK.

Each test starts a node in a thread (free ports on 127.0.0.1, data in tmp_path), drives it
with the worker SDK or a raw stream from the test's own loop, and stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from jobstream_helpers import RawStream, complete, fail, subscribe
from support.bpmn import one_task, task_with_error_boundary
from support.nodes import NodeThread, node_config
from support.waits import eventually

from zennode.api.proto import zenbpm_pb2 as pb
from zennode.node import Node
from zennode.worker import JobError, Worker

engine = pytest.importorskip("zennode.engine")
pytest.importorskip("zennode.cluster.partition")
if not hasattr(engine, "Engine"):
    pytest.skip("the engine has not landed yet", allow_module_level=True)

pytestmark = pytest.mark.timeout(60)
HEADERS = {"kind": "test"}


@contextlib.asynccontextmanager
async def running_node(tmp_path: Path, **limits: Any) -> AsyncIterator[NodeThread]:
    """A node in a thread serving the job stream (no REST), driven from the test's loop."""
    config = node_config(tmp_path / "node", 1, **limits)
    node = NodeThread(Node(config, serve_http=False, serve_grpc=True))
    await asyncio.to_thread(node.start)
    try:
        yield node
    finally:
        await asyncio.to_thread(node.stop)


@contextlib.asynccontextmanager
async def running_worker(worker: Worker) -> AsyncIterator[Worker]:
    task = asyncio.ensure_future(worker.run())
    try:
        await worker.wait_connected()
        yield worker
    finally:
        await worker.stop(timeout=5)
        await asyncio.wait_for(task, 10)


def run(coro: Any) -> None:
    asyncio.run(asyncio.wait_for(coro, 50))


def code_name(number: int) -> str:
    return next(c.name for c in grpc.StatusCode if c.value[0] == number)


def test_waiting_and_new_jobs_are_pushed_and_complete_finishes_the_instance(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path) as node:
            await node.deploy(one_task("p", "pay", headers=HEADERS))
            waiting = await node.start_instance("p", {"n": 1})
            stream = RawStream(node.address, "w1")
            await stream.send(subscribe("pay"))
            job = await stream.recv_job()
            assert job.instance_key == waiting and job.type == "pay" and job.element_id == "task"
            assert json.loads(job.input_variables) == {"n": 1}
            assert json.loads(job.custom_headers) == {"kind": "test"}
            assert job.deadline > job.created_at > 0
            fresh = await node.start_instance("p", {"n": 2})
            second = await stream.recv_job()
            assert second.instance_key == fresh
            for pushed in (job, second):
                await stream.send(complete(pushed.key, {"done": True}))
            for key in (waiting, fresh):
                await wait_until_async(node, key, "completed")
            # Completing again is an error naming the job; the instance moved on only once.
            await stream.send(complete(job.key))
            response = await stream.recv()
            assert response.job.key == job.key and str(job.key) in response.error.message
            assert code_name(response.error.code) in ("FAILED_PRECONDITION", "NOT_FOUND")
            instance = await node.instance(waiting)
            assert instance["state"] == "completed"
            await stream.close()

    run(scenario())


async def wait_until_async(node: NodeThread, key: int, state: str, timeout: float = 10) -> None:
    async def reached() -> bool:
        return (await node.instance(key))["state"] == state

    await eventually(reached, timeout, f"instance {key} to be {state}")


def test_round_robin_over_two_workers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path) as node:
            await node.deploy(one_task("p", "ship", headers=HEADERS))
            seen: dict[str, list[int]] = {"a": [], "b": []}
            workers = []
            for name in seen:
                worker = Worker(node.address, client_id=name, max_concurrency=4)
                worker.handler("ship")(lambda job, name=name: seen[name].append(job.key) or {})
                workers.append(worker)
            async with running_worker(workers[0]), running_worker(workers[1]):
                keys = [await node.start_instance("p") for _ in range(40)]
                for key in keys:
                    await wait_until_async(node, key, "completed")
            counts = sorted(len(v) for v in seen.values())
            assert sum(counts) == 40 and counts[0] >= 14, counts

    run(scenario())


def test_lock_expiry_redelivers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path) as node:
            await node.deploy(one_task("p", "slow", headers=HEADERS))
            stream = RawStream(node.address, "slow")
            await stream.send(subscribe("slow", lock_ms=300))
            await node.start_instance("p")
            first = await stream.recv_job()
            again = await stream.recv_job(timeout=5)
            assert again.key == first.key and again.deadline > first.deadline
            await stream.close()

    run(scenario())


def test_disconnect_redelivers_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path) as node:
            await node.deploy(one_task("p", "t", headers=HEADERS))
            first = RawStream(node.address, "a")
            await first.send(subscribe("t"))
            await node.start_instance("p")
            job = await first.recv_job()
            second = RawStream(node.address, "b")
            await second.send(subscribe("t"))
            await asyncio.sleep(0.2)
            await first.close()  # the lock is 30 s: the job must come back long before
            again = await second.recv_job(timeout=3)
            assert again.key == job.key
            await second.send(complete(job.key))
            await wait_until_async(node, job.instance_key, "completed")
            await second.close()

    run(scenario())


def test_bad_stream_messages_get_errors_and_the_stream_survives(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path, variables_bytes_max=1024) as node:
            await node.deploy(one_task("p", "t", headers=HEADERS))
            stream = RawStream(node.address, "w")
            await stream.send(subscribe("t"))
            await node.start_instance("p")
            job = await stream.recv_job()
            unknown = job.key + 1_000_000
            big = b'{"a":"' + b"x" * 4096 + b'"}'
            cases = [
                (complete(unknown), "NOT_FOUND", unknown),
                (complete(job.key, raw=b"{oops"), "INVALID_ARGUMENT", job.key),
                (complete(job.key, raw=big), "INVALID_ARGUMENT", job.key),
                (subscribe("  "), "INVALID_ARGUMENT", 0),
                (pb.JobStreamRequest(), "INVALID_ARGUMENT", 0),
            ]
            for request, expected, key in cases:
                await stream.send(request)
                response = await stream.recv()
                assert code_name(response.error.code) == expected, response
                assert response.job.key == key
            other = RawStream(node.address, "other")
            await other.send(complete(job.key))
            foreign = await other.recv()
            assert code_name(foreign.error.code) == "FAILED_PRECONDITION", foreign
            assert str(job.key) in foreign.error.message
            await other.close()
            second = await node.start_instance("p")
            assert (await stream.recv_job()).instance_key == second
            await stream.send(complete(job.key))
            await wait_until_async(node, job.instance_key, "completed")
            await stream.close()

    run(scenario())


def test_duplicate_client_id_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path) as node:
            first = RawStream(node.address, "dup")
            await first.send(subscribe("t"))
            await asyncio.sleep(0.2)
            for _ in range(5):  # with a subscription in flight, as a real worker sends it
                second = RawStream(node.address, "dup")
                await second.send(subscribe("t"))
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await second.recv()
                await second.close()
                assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
            await first.close()

    run(scenario())


def test_error_code_takes_the_boundary_path(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path) as node:
            await node.deploy(task_with_error_boundary("p", "risky", "NOPE"))
            handled: list[int] = []
            worker = Worker(node.address, client_id="sdk")

            @worker.handler("risky")
            def risky(job):  # type: ignore[no-untyped-def]
                raise JobError("NOPE", "cannot do it")

            worker.handler("risky-handled")(lambda job: handled.append(job.instance_key) or {})
            async with running_worker(worker):
                key = await node.start_instance("p")
                await wait_until_async(node, key, "completed")
            assert handled == [key]

    run(scenario())


def test_fail_with_back_off_comes_back_then_no_retries_makes_an_incident(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path) as node:
            await node.deploy(one_task("p", "flaky", headers=HEADERS))
            stream = RawStream(node.address, "w")
            await stream.send(subscribe("flaky"))
            instance = await node.start_instance("p")
            job = await stream.recv_job()
            failed_at = asyncio.get_running_loop().time()
            await stream.send(fail(job.key, "try later", retries=1, backoff_ms=400))
            again = await stream.recv_job(timeout=5)
            waited = asyncio.get_running_loop().time() - failed_at
            assert again.key == job.key and again.retries == 1 and waited >= 0.35, waited
            await stream.send(fail(job.key, "give up", retries=0))

            async def open_incidents() -> list[Any]:
                page = await node.acall(
                    node.node.service.list_incidents(process_instance_key=instance)
                )
                return [i for p in page["partitions"] for i in p["items"]]

            incidents = await eventually(open_incidents, 4.0, "an incident")
            assert len(incidents) == 1 and "give up" in json.dumps(incidents[0])
            with pytest.raises(TimeoutError):
                await stream.recv_job(timeout=0.3)  # a failed job is not pushed again
            await stream.close()

    run(scenario())
