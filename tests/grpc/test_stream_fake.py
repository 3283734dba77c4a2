"""The job stream's protocol and distribution rules over a real gRPC server and a fake node.

The fake node keeps jobs in memory (tests/grpc/jobstream_fake_node.py), so these run in milliseconds
and pin down the manager's rules; test_stream_node.py runs the same flows on a real node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import grpc
import pytest
from jobstream_fake_node import FakeNode, fake_job_streams
from jobstream_helpers import RawStream, complete, subscribe
from support.ports import reserve_port
from support.waits import eventually

from zennode.api.grpc_server import ZenBpmService
from zennode.api.proto import zenbpm_pb2 as pb
from zennode.api.proto import zenbpm_pb2_grpc as pb_grpc
from zennode.jobs.manager import Settings
from zennode.jobs.streams import JobStreams
from zennode.worker import JobError, Worker

pytestmark = pytest.mark.timeout(30)


@contextlib.asynccontextmanager
async def fake_server(**settings: int) -> AsyncIterator[tuple[FakeNode, str, JobStreams]]:
    node = FakeNode()
    node.loop = asyncio.get_running_loop()
    streams = fake_job_streams(node, Settings(**settings))
    await streams.start()
    server = grpc.aio.server()
    pb_grpc.add_ZenBpmServicer_to_server(ZenBpmService(streams), server)
    port = reserve_port().port
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield node, f"127.0.0.1:{port}", streams
    finally:
        await server.stop(grace=0.5)
        await streams.stop()


def run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(asyncio.wait_for(coro, 25))


def test_jobs_waiting_before_and_created_after_subscribe_are_pushed() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            before = node.create_job("pay", {"n": 1})
            stream = RawStream(address, "w1")
            await stream.send(subscribe("pay"))
            job = await stream.recv_job()
            assert (job.key, job.type, json.loads(job.input_variables)) == (before, "pay", {"n": 1})
            assert job.deadline > job.created_at and json.loads(job.custom_headers) == {"h": "v"}
            after = node.create_job("pay", {"n": 2})
            job = await stream.recv_job()
            assert job.key == after and job.worker.startswith("w1#")
            await stream.close()

    run(scenario())


def test_round_robin_gives_each_worker_a_fair_share() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            streams = [RawStream(address, f"w{i}") for i in range(2)]
            for stream in streams:
                await stream.send(subscribe("ship"))
            await asyncio.sleep(0.2)
            for _ in range(40):
                node.create_job("ship")
            counts = [0, 0]
            for i, stream in enumerate(streams):
                with contextlib.suppress(TimeoutError):
                    while True:
                        await stream.recv_job(timeout=0.5)
                        counts[i] += 1
            assert sum(counts) == 40
            assert min(counts) >= 15, counts
            for stream in streams:
                await stream.close()

    run(scenario())


def test_in_flight_limit_holds_jobs_back_until_one_completes() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            stream = RawStream(address, "w1")
            await stream.send(subscribe("x", jobs_max=2))
            keys = [node.create_job("x") for _ in range(3)]
            first = [(await stream.recv_job()).key for _ in range(2)]
            assert first == keys[:2]
            with pytest.raises(TimeoutError):
                await stream.recv_job(timeout=0.3)
            await stream.send(complete(first[0]))
            assert (await stream.recv_job()).key == keys[2]
            await stream.close()

    run(scenario())


def test_expired_lock_redelivers() -> None:
    async def scenario() -> None:
        async with fake_server(tick_ms=50) as (node, address, _):
            stream = RawStream(address, "slow")
            await stream.send(subscribe("t", lock_ms=200))
            key = node.create_job("t")
            assert (await stream.recv_job()).key == key
            again = await stream.recv_job(timeout=3)  # lock expired: pushed again
            assert again.key == key
            await stream.close()

    run(scenario())


def test_disconnect_frees_jobs_at_once() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            first = RawStream(address, "a")
            await first.send(subscribe("t"))
            key = node.create_job("t")
            assert (await first.recv_job()).key == key
            second = RawStream(address, "b")
            await second.send(subscribe("t"))
            await asyncio.sleep(0.1)
            await first.close()  # the lock is 30 s; the job must come back well before
            assert (await second.recv_job(timeout=2)).key == key
            await second.close()

    run(scenario())


def test_complete_is_applied_once_and_a_second_complete_is_an_error() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            stream = RawStream(address, "w")
            await stream.send(subscribe("t"))
            key = node.create_job("t")
            await stream.recv_job()
            await stream.send(complete(key, {"ok": True}))
            await eventually(lambda: node.completions.get(key) == 1, 5.0, "completion")
            await stream.send(complete(key))
            response = await stream.recv()
            assert response.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
            assert str(key) in response.error.message and response.job.key == key
            assert node.completions[key] == 1
            await stream.close()

    run(scenario())


def test_bad_messages_get_an_error_and_the_stream_survives() -> None:
    async def scenario() -> None:
        async with fake_server(variables_bytes_max=1024) as (node, address, _):
            stream = RawStream(address, "w")
            await stream.send(subscribe("t"))
            key = node.create_job("t")
            await stream.recv_job()
            code = {c.value[0]: c.name for c in grpc.StatusCode}
            cases = [
                (complete(987654321), "NOT_FOUND", 987654321),
                (complete(key, raw=b"{not json"), "INVALID_ARGUMENT", key),
                (complete(key, raw=b"[1, 2]"), "INVALID_ARGUMENT", key),
                (complete(key, raw=b'{"a": "' + b"x" * 2000 + b'"}'), "INVALID_ARGUMENT", key),
                (subscribe(""), "INVALID_ARGUMENT", 0),
                (pb.JobStreamRequest(), "INVALID_ARGUMENT", 0),
            ]
            for request, expected, job_key in cases:
                await stream.send(request)
                response = await stream.recv()
                assert code[response.error.code] == expected, response
                assert response.job.key == job_key
                if job_key:
                    assert str(job_key) in response.error.message
            # Still open: a new job is pushed, and the first one can still be completed.
            second = node.create_job("t")
            assert (await stream.recv_job()).key == second
            await stream.send(complete(key))
            await eventually(lambda: node.completions.get(key) == 1, 5.0, "completion")
            await stream.close()

    run(scenario())


def test_job_locked_by_another_worker_cannot_be_completed() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            owner = RawStream(address, "owner")
            await owner.send(subscribe("t"))
            key = node.create_job("t")
            await owner.recv_job()
            thief = RawStream(address, "thief")
            await thief.send(complete(key))
            response = await thief.recv()
            assert response.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
            assert "another worker" in response.error.message
            await owner.close()
            await thief.close()

    run(scenario())


def test_second_stream_with_the_same_client_id_is_refused() -> None:
    async def scenario() -> None:
        async with fake_server() as (_, address, _streams):
            first = RawStream(address, "same")
            await first.send(subscribe("t"))
            await eventually(lambda: _streams.snapshot()["streams"] == 1, 5.0, "first stream")
            # Several times, each sending subscriptions at once as a real worker does: the
            # refusal must be ALREADY_EXISTS even with requests in flight (it once came out
            # as INTERNAL, most of the time).
            for _ in range(10):
                second = RawStream(address, "same")
                for job_type in ("t", "u"):
                    await second.send(subscribe(job_type))
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await second.recv()
                await second.close()
                assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
                assert "same" in (info.value.details() or "")
            assert _streams.snapshot()["streams"] == 1  # the first one is still served
            await first.close()

    run(scenario())


def test_a_client_id_another_node_streams_is_refused_and_a_double_keeps_the_older() -> None:
    """Cluster-wide client ids (the job relay tells who streams what, see test_relay.py and
    tests/cluster/test_jobstream_cluster.py): a client id another node holds is refused; when
    two nodes accepted one before hearing of each other, the stream opened later ends."""

    async def scenario() -> None:
        async with fake_server() as (_, address, streams):
            elsewhere = {"held": 2}
            streams.use_remote_clients(elsewhere.get)
            refused = RawStream(address, "held")
            await refused.send(subscribe("t"))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await refused.recv()
            assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
            assert "node 2" in (info.value.details() or "")
            await refused.close()

            mine = RawStream(address, "mine")
            await mine.send(subscribe("t"))
            await eventually(lambda: streams.snapshot()["streams"] == 1, 5, "the stream")
            [(_worker, opened_at)] = streams.open_workers()
            streams.claimed_elsewhere("mine", opened_at + 5, 2)  # node 2's is younger: stays
            streams.claimed_elsewhere("other", 0, 2)  # not streamed here: nothing happens
            assert streams.snapshot()["streams"] == 1
            streams.claimed_elsewhere("mine", opened_at - 5, 2)  # node 2's is older: this ends
            response = await mine.recv()
            assert response.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
            assert "connected to node 2 first" in response.error.message
            assert streams.snapshot()["streams"] == 0
            await mine.close()

    run(scenario())


def test_worker_sdk_completes_and_fails_with_error_codes() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            worker = Worker([address], client_id="sdk", max_concurrency=4)

            @worker.handler("calc")
            def calc(job):  # type: ignore[no-untyped-def]
                if job.variables.get("bad"):
                    raise JobError("BAD_INPUT", "bad input")
                return {"double": job.variables["x"] * 2}

            task = asyncio.ensure_future(worker.run())
            await worker.wait_connected()
            good = node.create_job("calc", {"x": 21})
            bad = node.create_job("calc", {"bad": True})
            await eventually(lambda: node.jobs[good]["state"] == "completed", 5.0, "complete")
            # Each failure takes one retry and the job comes back, until none are left.
            await eventually(lambda: node.jobs[bad]["state"] == "failed", 5.0, "fail")
            assert node.jobs[bad]["errorCode"] == "BAD_INPUT"
            assert worker.stats["completed"] == 1 and worker.stats["failed"] == 3
            await worker.stop(timeout=5)
            await asyncio.wait_for(task, 5)

    run(scenario())


def test_worker_sdk_reconnects_after_the_server_goes_away() -> None:
    async def scenario() -> None:
        node = FakeNode()
        node.loop = asyncio.get_running_loop()
        streams = fake_job_streams(node, Settings())
        await streams.start()
        port = reserve_port().port

        async def serve() -> grpc.aio.Server:
            server = grpc.aio.server()
            pb_grpc.add_ZenBpmServicer_to_server(ZenBpmService(streams), server)
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
            return server

        server = await serve()
        worker = Worker(f"127.0.0.1:{port}", reconnect_min_s=0.05, reconnect_max_s=0.2)
        done: list[int] = []
        worker.handler("r")(lambda job: done.append(job.key) or {})
        task = asyncio.ensure_future(worker.run())
        await worker.wait_connected()
        await server.stop(grace=0)
        server = await serve()
        await eventually(lambda: worker.stats["connects"] >= 2, 5, "reconnect")
        key = node.create_job("r")
        await eventually(lambda: key in done, 5.0, "job after reconnect")
        await worker.stop(timeout=5)
        await asyncio.wait_for(task, 5)
        await server.stop(grace=0)
        await streams.stop()

    run(scenario())


def test_a_new_leader_loads_waiting_jobs_and_a_follower_hands_out_nothing() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, streams):
            node.set_leader(False)
            stream = RawStream(address, "w")
            await stream.send(subscribe("t"))
            key = node.create_job("t")
            with pytest.raises(TimeoutError):
                await stream.recv_job(timeout=0.3)
            node.set_leader(True)
            assert (await stream.recv_job(timeout=2)).key == key
            assert streams.managers[1].snapshot()["inFlight"] == 1
            await stream.close()

    run(scenario())


def test_unsubscribe_stops_new_jobs_but_keeps_held_ones() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            stream = RawStream(address, "w")
            await stream.send(subscribe("t"))
            held = node.create_job("t")
            assert (await stream.recv_job()).key == held
            await stream.send(
                pb.JobStreamRequest(
                    subscription=pb.StreamSubscriptionRequest(
                        job_type="t", type=pb.StreamSubscriptionRequest.TYPE_UNSUBSCRIBE
                    )
                )
            )
            await asyncio.sleep(0.1)
            node.create_job("t")
            with pytest.raises(TimeoutError):
                await stream.recv_job(timeout=0.3)
            await stream.send(complete(held))
            await eventually(lambda: node.completions.get(held) == 1, 5.0, "completion")
            await stream.close()

    run(scenario())


def test_a_message_over_the_grpc_limit_ends_only_that_stream() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            # The fake server uses gRPC's default 4 MiB receive limit, like the node's.
            stream = RawStream(address, "big")
            await stream.send(subscribe("t"))
            await stream.send(complete(1, raw=b'{"a":"' + b"x" * (5 * 1024 * 1024) + b'"}'))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                while True:
                    await stream.recv(timeout=5)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await stream.close()
            other = RawStream(address, "other")
            await other.send(subscribe("t"))
            key = node.create_job("t")
            assert (await other.recv_job()).key == key
            await other.close()

    run(scenario())


def test_worker_sdk_moves_on_to_the_next_address() -> None:
    async def scenario() -> None:
        async with fake_server() as (node, address, _):
            dead = f"127.0.0.1:{reserve_port().port}"
            worker = Worker([dead, address], reconnect_min_s=0.05, reconnect_max_s=0.2)
            done: list[int] = []
            worker.handler("m")(lambda job: done.append(job.key) or {"ok": 1})
            task = asyncio.ensure_future(worker.run())
            await worker.wait_connected(timeout=10)
            key = node.create_job("m")
            await eventually(lambda: node.completions.get(key) == 1, 5.0, "completion")
            assert done == [key]
            await worker.stop(timeout=5)
            await asyncio.wait_for(task, 5)

    run(scenario())
