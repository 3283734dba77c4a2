"""The gRPC job stream on a real 3-node cluster (3 partitions, R=3) of `zennode` processes.

Workers connect to DIFFERENT nodes; instances land on all partitions, whose leaders are spread
over the nodes. A leader pushes to the workers on its own node first; jobs of a leader without
a worker of its own (or whose workers are full) travel over the node-to-node relay
(`zennode.jobs.job_relay`). Every
delivery is recorded as (job key, worker, when, lock deadline) and every hold ends when the
worker sends its completion, its stream breaks or the lock runs out; no two holds of one job
may overlap. One cluster for the module (the `cluster` fixture); the test that kills a leader
runs last and restarts the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from support.bpmn import one_task, task_with_error_boundary
from support.cluster import LocalCluster
from support.waits import eventually

from zennode.api.proto import zenbpm_pb2 as pb
from zennode.api.proto import zenbpm_pb2_grpc as pb_grpc
from zennode.config import default_config
from zennode.engine.keys import make_key, partition_of
from zennode.tools import launcher
from zennode.tools.bench.node import Scrape
from zennode.worker import JobError, Worker

pytestmark = pytest.mark.timeout(120)

PROCESS = "relay-job"


def now_ms() -> float:
    return time.time() * 1000


@dataclass
class Hold:
    key: int
    worker: str
    start_ms: float
    deadline_ms: float
    end_ms: float | None = None

    def end(self) -> float:
        return min(self.end_ms or self.deadline_ms, self.deadline_ms)


@dataclass
class Journal:
    """Every delivery of every worker of a test, for fairness, latency and overlap checks."""

    holds: list[Hold] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    errors: list[tuple[str, int, int, str]] = field(default_factory=list)  # worker, code, key, msg

    def by_worker(self) -> Counter[str]:
        return Counter(h.worker.split("#")[0].rsplit("-", 1)[0] for h in self.holds)

    def overlaps(self) -> list[tuple[Hold, Hold]]:
        found = []
        per_key: dict[int, list[Hold]] = {}
        for hold in self.holds:
            per_key.setdefault(hold.key, []).append(hold)
        for holds in per_key.values():
            holds.sort(key=lambda h: h.start_ms)
            for before, after in zip(holds, holds[1:], strict=False):
                if after.start_ms < before.end():
                    found.append((before, after))
        return found


class StreamWorker:
    """A worker on the raw wire protocol that records every delivery in a `Journal`.

    It connects to `addresses[0]` and moves on to the next address when the stream breaks.
    `complete=False` holds its jobs without completing them.
    """

    def __init__(
        self,
        name: str,
        addresses: list[str],
        job_type: str,
        journal: Journal,
        *,
        lock_ms: int = 30_000,
        jobs_max: int = 0,
        work_s: float = 0.0,
        complete: bool = True,
    ) -> None:
        self.name = name
        self.addresses = addresses
        self.job_type = job_type
        self.journal = journal
        self.lock_ms = lock_ms
        self.jobs_max = jobs_max
        self.work_s = work_s
        self.complete = complete
        self.received: list[pb.WaitingJob] = []
        self.connected = asyncio.Event()
        self._out: asyncio.Queue[pb.JobStreamRequest | None] = asyncio.Queue(10_000)
        self._open: dict[int, Hold] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.sessions = 0

    def start(self) -> StreamWorker:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def stop(self) -> None:
        """Close the stream; from now on this worker holds nothing (jobs still arriving are
        not taken: the node frees them with the stream)."""
        self._stopping = True
        self._end_open_holds()
        self._out.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def send(self, request: pb.JobStreamRequest) -> None:
        await self._out.put(request)

    async def _run(self) -> None:
        index = 0
        while not self._stopping:
            address = self.addresses[index % len(self.addresses)]
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self._session(address)
            self._end_open_holds()
            self.connected.clear()
            index += 1
            await asyncio.sleep(0.2)

    async def _session(self, address: str) -> None:
        self.sessions += 1
        self._out = asyncio.Queue(10_000)
        out = self._out
        out.put_nowait(
            pb.JobStreamRequest(
                subscription=pb.StreamSubscriptionRequest(
                    job_type=self.job_type,
                    type=pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE,
                    lock_duration=self.lock_ms,
                    max_active_jobs=self.jobs_max,
                )
            )
        )

        async def requests() -> Any:
            while True:
                item = await out.get()
                if item is None:
                    return
                yield item

        async with grpc.aio.insecure_channel(address) as channel:
            call = pb_grpc.ZenBpmStub(channel).JobStream(
                requests(), metadata=(("client_id", f"{self.name}-{self.sessions}"),)
            )
            self.connected.set()
            async for response in call:
                if response.HasField("error"):
                    self.journal.errors.append(
                        (self.name, response.error.code, response.job.key, response.error.message)
                    )
                    continue
                self._on_job(response.job, out)

    def _on_job(self, job: pb.WaitingJob, out: asyncio.Queue[Any]) -> None:
        if self._stopping:
            return
        received = now_ms()
        self.received.append(job)
        hold = Hold(job.key, job.worker or self.name, received, float(job.deadline))
        self.journal.holds.append(hold)
        self.journal.latency_ms.append(received - job.created_at)
        self._open[job.key] = hold
        if self.complete:
            asyncio.get_running_loop().call_later(self.work_s, self._complete, job.key, out)

    def _complete(self, key: int, out: asyncio.Queue[Any]) -> None:
        hold = self._open.pop(key, None)
        if hold is not None and hold.end_ms is None:
            hold.end_ms = now_ms()
        variables = json.dumps({"by": self.name}).encode()
        out.put_nowait(
            pb.JobStreamRequest(complete=pb.JobCompleteRequest(key=key, variables=variables))
        )

    def _end_open_holds(self) -> None:
        """The stream broke: whatever this worker held is no longer its to complete."""
        ended = now_ms()
        for hold in self._open.values():
            if hold.end_ms is None:
                hold.end_ms = ended
        self._open.clear()


# ---------------------------------------------------------------------------- helpers


def grpc_address(cluster: LocalCluster, node: int) -> str:
    return cluster.grpc[node]


def addresses_from(cluster: LocalCluster, first: int) -> list[str]:
    ids = sorted(cluster.urls)
    order = [first] + [i for i in ids if i != first]
    return [grpc_address(cluster, i) for i in order]


async def create_instances(
    cluster: LocalCluster,
    process: str,
    count: int,
    nodes: list[int],
    variables: Any = None,
) -> list[int]:
    """`count` instances through the REST APIs of `nodes` in turn (each node round robins the
    partitions it leads, all of them when it leads none); retried on 503 like a client would.
    Instances on every partition therefore need requests through every leader's node."""

    def one(i: int) -> int:
        node = nodes[i % len(nodes)]
        body = {"bpmnProcessId": process, "variables": variables(i) if variables else {}}
        response = cluster.call("POST", node, "/v1/process-instances", json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["processInstanceKey"])

    return [await asyncio.to_thread(one, i) for i in range(count)]


def instance_states(
    cluster: LocalCluster, keys: list[int], nodes: list[int] | None = None
) -> Counter[str]:
    """How many of the instances are in each state, read through `nodes` in turn."""
    nodes = nodes or sorted(cluster.urls)
    states: Counter[str] = Counter()
    for i, key in enumerate(keys):
        response = cluster.call("GET", nodes[i % len(nodes)], f"/v1/process-instances/{key}")
        ok = response.status_code == 200
        states[response.json().get("state", "?") if ok else str(response.status_code)] += 1
    return states


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def run(coro: Any, timeout: float = 90) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def deployed(cluster: LocalCluster) -> LocalCluster:
    for job_type in ("rr", "expiry", "leave", "bad", "cap", "doom", "kill", "dup"):
        cluster.deploy(one_task(f"{PROCESS}-{job_type}", job_type), node=1)
    cluster.deploy(task_with_error_boundary(f"{PROCESS}-sdk", "sdk", "NO"), node=2)
    # Node n leads partition n from here on: creations through every node reach every
    # partition (a node puts new instances on the partitions it leads).
    cluster.wait_balanced()
    return cluster


# ------------------------------------------------------------------------------ tests


def relayed_jobs(cluster: LocalCluster) -> float:
    """Jobs the cluster's leaders pushed to a worker on another node (over the job relay)."""
    return sum(
        Scrape(cluster.call("GET", node, "/metrics").text).total("zennode_jobs_pushed_remote_total")
        for node in sorted(cluster.urls)
    )


def test_workers_on_every_node_get_their_own_nodes_jobs_and_nothing_is_relayed(
    deployed: LocalCluster,
) -> None:
    """A leader's manager prefers the workers connected to its own node: with a worker on
    every node (each with room for all its jobs), partition n's jobs all go to the worker on
    node n, its leader, so no job crosses the relay and no completion is forwarded.

    The limit (30: 10 per partition) is below the 16 push offers a type may hold, so offers to
    remote workers for the rest of the pool would show here as relayed jobs; jobs pushed
    through offers count in `jobs_pushed_remote` like the others."""
    cluster = deployed
    count = 90

    async def scenario() -> None:
        journal = Journal()
        workers = [
            StreamWorker(
                f"w{node}", [grpc_address(cluster, node)], "rr", journal, jobs_max=30
            ).start()
            for node in sorted(cluster.urls)
        ]
        relayed_before = await asyncio.to_thread(relayed_jobs, cluster)
        try:
            for worker in workers:
                await asyncio.wait_for(worker.connected.wait(), 10)
            await asyncio.sleep(0.5)  # the subscriptions reach every node's managers
            keys = await create_instances(cluster, f"{PROCESS}-rr", count, sorted(cluster.urls))
            await eventually(lambda: len(journal.holds) >= count, 30, "every job delivered")
            await asyncio.sleep(0.3)
        finally:
            for worker in workers:
                await worker.stop()
        shares = journal.by_worker()
        print(f"\nshares {dict(shares)}")
        p50, p99 = percentile(journal.latency_ms, 0.5), percentile(journal.latency_ms, 0.99)
        print(f"push latency (created -> delivered) p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        assert len(journal.holds) == count, "a job was delivered twice"
        for node, worker in zip(sorted(cluster.urls), workers, strict=True):
            partitions = {partition_of(job.key) for job in worker.received}
            assert partitions == {node}, (worker.name, partitions)  # node n leads partition n
        assert shares == Counter({w.name: count // len(workers) for w in workers}), shares
        assert await asyncio.to_thread(relayed_jobs, cluster) == relayed_before
        assert not journal.errors, journal.errors
        assert not journal.overlaps()
        await eventually(
            lambda: instance_states(cluster, keys) == Counter({"completed": count}),
            15,
            "every instance completed",
        )
        # Jobs activated in their creating batch (push offers, on by default) leave every
        # replica in the same state.
        await asyncio.to_thread(cluster.wait_converged)

    run(scenario())


def test_sdk_workers_on_two_nodes_drain_every_partition_and_fail_into_a_boundary(
    deployed: LocalCluster,
) -> None:
    """The Python SDK across nodes: results travel back as completions to each job's leader;
    a `JobError` thrown for a job led on another node takes the error boundary there."""
    cluster = deployed
    count = 30

    async def scenario() -> None:
        seen: Counter[str] = Counter()
        handled: list[int] = []
        partitions: set[int] = set()
        workers = []
        for node in (2, 3):
            worker = Worker(addresses_from(cluster, node), client_id=f"sdk{node}")

            @worker.handler("sdk")
            def handle(job: Any, name: str = f"sdk{node}") -> dict[str, Any]:
                seen[name] += 1
                partitions.add(partition_of(job["key"]))
                if job["variables"].get("fail"):
                    raise JobError("NO", "refused")
                return {"by": name}

            @worker.handler("sdk-handled")
            def after_boundary(job: Any) -> None:
                handled.append(job["key"])

            workers.append(worker)
        tasks = [asyncio.ensure_future(w.run()) for w in workers]
        try:
            for worker in workers:
                await worker.wait_connected(timeout=10)
            await asyncio.sleep(0.5)
            keys = await create_instances(
                cluster,
                f"{PROCESS}-sdk",
                count,
                sorted(cluster.urls),
                variables=lambda i: {"fail": i % 5 == 0},
            )
            deadline = time.monotonic() + 20
            while True:
                states = await asyncio.to_thread(instance_states, cluster, keys)
                if states["completed"] == count:
                    break
                assert time.monotonic() < deadline, states
                await asyncio.sleep(0.2)
        finally:
            for worker in workers:
                await worker.stop(timeout=5)
            await asyncio.gather(*tasks, return_exceptions=True)
        print(f"\nSDK shares {dict(seen)}")
        assert sum(seen.values()) == count and min(seen.values()) >= count // 4
        assert partitions == {1, 2, 3}
        assert len(handled) == count // 5, "each JobError took the boundary once"

    run(scenario())


def test_an_expired_lock_redelivers_to_a_worker_on_another_node(deployed: LocalCluster) -> None:
    cluster = deployed

    async def scenario() -> None:
        journal = Journal()
        holder = StreamWorker(
            "holder", [grpc_address(cluster, 2)], "expiry", journal, lock_ms=1500, complete=False
        ).start()
        taker = None
        try:
            await asyncio.wait_for(holder.connected.wait(), 10)
            await asyncio.sleep(0.3)
            await create_instances(cluster, f"{PROCESS}-expiry", 3, [1])
            await eventually(lambda: len(holder.received) == 3, 15, "the holder got 3 jobs")
            unsubscribe = pb.StreamSubscriptionRequest(
                job_type="expiry", type=pb.StreamSubscriptionRequest.TYPE_UNSUBSCRIBE
            )
            await holder.send(pb.JobStreamRequest(subscription=unsubscribe))
            taker = StreamWorker("taker", [grpc_address(cluster, 3)], "expiry", journal).start()
            await eventually(
                lambda: len(taker.received) == 3, 15, "the taker got them after expiry"
            )
        finally:
            for worker in (holder, taker):
                if worker is not None:
                    await worker.stop()
        deadlines = {job.key: job.deadline for job in holder.received}
        for hold in journal.holds:
            if hold.worker.startswith("taker"):
                assert hold.start_ms >= deadlines[hold.key], "redelivered inside the lock"
                assert hold.start_ms <= deadlines[hold.key] + 3_000, "redelivered late"
        assert not journal.overlaps()

    run(scenario())


def test_a_worker_that_disconnects_frees_its_jobs_at_once_on_every_partition(
    deployed: LocalCluster,
) -> None:
    cluster = deployed

    async def scenario() -> None:
        journal = Journal()
        leaver = StreamWorker(
            "leaver", [grpc_address(cluster, 3)], "leave", journal, lock_ms=60_000, complete=False
        ).start()
        stayer = None
        try:
            await asyncio.wait_for(leaver.connected.wait(), 10)
            await asyncio.sleep(0.3)
            await create_instances(cluster, f"{PROCESS}-leave", 3, sorted(cluster.urls))
            await eventually(lambda: len(leaver.received) == 3, 15, "the leaver got 3 jobs")
            assert {partition_of(job.key) for job in leaver.received} == {1, 2, 3}
            stayer = StreamWorker("stayer", [grpc_address(cluster, 1)], "leave", journal).start()
            await asyncio.wait_for(stayer.connected.wait(), 10)
            await asyncio.sleep(0.5)
            assert not stayer.received, "a job locked for 60 s went to a second worker"
            left = time.monotonic()
            await leaver.stop()
            await eventually(lambda: len(stayer.received) == 3, 10, "the stayer got the jobs")
            took = time.monotonic() - left
            print(f"\nredelivered {took * 1000:.0f} ms after the disconnect (lock 60 s)")
            assert took < 5
        finally:
            for worker in (leaver, stayer):
                if worker is not None:
                    await worker.stop()
        assert not journal.overlaps()

    run(scenario())


async def open_stream(address: str, client_id: str, job_type: str) -> tuple[Any, Any]:
    """A raw JobStream subscribed to `job_type`: (channel, call)."""
    channel = grpc.aio.insecure_channel(address)
    request = pb.JobStreamRequest(
        subscription=pb.StreamSubscriptionRequest(
            job_type=job_type, type=pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE
        )
    )

    async def requests() -> Any:
        yield request
        await asyncio.Event().wait()  # keep the stream open until the call is cancelled

    call = pb_grpc.ZenBpmStub(channel).JobStream(requests(), metadata=(("client_id", client_id),))
    return channel, call


async def refused_elsewhere(address: str, client_id: str) -> bool:
    """Open `client_id` at `address`: True when refused (or ended) with ALREADY_EXISTS within
    2 s; False while the node still takes it (it has not heard of the other stream yet)."""
    channel, call = await open_stream(address, client_id, "dup-unused")
    try:
        response = await asyncio.wait_for(call.read(), 2)
        if response is grpc.aio.EOF:
            return False
        return response.HasField("error") and response.error.code == 6  # ALREADY_EXISTS
    except grpc.aio.AioRpcError as exc:
        return exc.code() == grpc.StatusCode.ALREADY_EXISTS
    except TimeoutError:
        return False
    finally:
        call.cancel()
        await channel.close()


def test_a_client_id_streaming_on_one_node_is_refused_on_the_others(deployed: LocalCluster) -> None:
    cluster = deployed

    async def scenario() -> None:
        channel, call = await open_stream(grpc_address(cluster, 1), "dup-worker", "dup")
        try:
            # A job through it first: the stream is open on node 1 before any probe elsewhere
            # (otherwise a probe may open first and the later stream, node 1's, is the one that
            # ends).
            await create_instances(cluster, f"{PROCESS}-dup", 1, [2])
            response = await asyncio.wait_for(call.read(), 15)
            assert response.HasField("job") and response.job.type == "dup", response
            for node in (2, 3):
                deadline = time.monotonic() + 15
                while not await refused_elsewhere(grpc_address(cluster, node), "dup-worker"):
                    assert time.monotonic() < deadline, f"node {node} took a duplicate client_id"
            # the first stream is still served: it gets the job of a new instance
            await create_instances(cluster, f"{PROCESS}-dup", 1, [2])
            response = await asyncio.wait_for(call.read(), 15)
            assert response.HasField("job") and response.job.type == "dup", response
        finally:
            call.cancel()
            await channel.close()
        # Closed: every node takes the client id again (once it heard of the close).
        deadline = time.monotonic() + 15
        while True:
            channel, call = await open_stream(grpc_address(cluster, 3), "dup-worker", "dup")
            try:
                await create_instances(cluster, f"{PROCESS}-dup", 1, [1])
                response = await asyncio.wait_for(call.read(), 5)
                if response is not grpc.aio.EOF and response.HasField("job"):
                    break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.ALREADY_EXISTS, exc
            finally:
                call.cancel()
                await channel.close()
            assert time.monotonic() < deadline, "the client id stayed taken after its stream ended"
            await asyncio.sleep(0.2)

    run(scenario())


def test_bad_requests_on_a_forwarding_node_get_an_error_and_the_stream_survives(
    deployed: LocalCluster,
) -> None:
    cluster = deployed
    codes = {c.name: c.value[0] for c in grpc.StatusCode}

    async def scenario() -> None:
        journal = Journal()
        owner = StreamWorker("owner", [grpc_address(cluster, 1)], "bad", journal, complete=False)
        other = StreamWorker("other", [grpc_address(cluster, 2)], "unused", journal, complete=False)
        owner.start(), other.start()
        try:
            await asyncio.wait_for(owner.connected.wait(), 10)
            await asyncio.wait_for(other.connected.wait(), 10)
            await asyncio.sleep(0.3)
            await create_instances(cluster, f"{PROCESS}-bad", 3, [3])
            await eventually(
                lambda: len(owner.received) == 3,
                15,
                lambda: (  # which partition's job is missing, or came twice, or a session broke
                    f"the owner got 3 jobs; got {len(owner.received)} (key, partition): "
                    f"{[(j.key, partition_of(j.key)) for j in owner.received]}, "
                    f"sessions {owner.sessions}, errors {journal.errors}"
                ),
            )
            job_keys = [job.key for job in owner.received]
            unknown = [make_key(p, 10**12 + p) for p in (1, 2, 3)]
            big = json.dumps({"x": "y" * default_config().limits.variables_bytes_max}).encode()

            def complete(key: int, raw: bytes = b"{}") -> pb.JobStreamRequest:
                return pb.JobStreamRequest(complete=pb.JobCompleteRequest(key=key, variables=raw))

            bad = [
                *(complete(key) for key in unknown),  # NOT_FOUND on every partition's leader
                *(complete(key) for key in job_keys),  # locked by another worker
                complete(job_keys[0], b"{not json"),
                complete(job_keys[0], big),
                pb.JobStreamRequest(
                    subscription=pb.StreamSubscriptionRequest(
                        job_type=" ", type=pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE
                    )
                ),
            ]
            for request in bad:
                await other.send(request)
            await eventually(lambda: len(journal.errors) >= len(bad), 15, "an error per request")
            got = Counter(code for _, code, _, _ in journal.errors)
            expected = {"NOT_FOUND": 3, "FAILED_PRECONDITION": 3, "INVALID_ARGUMENT": 3}
            assert got == Counter({codes[name]: n for name, n in expected.items()}), journal.errors
            assert {key for _, code, key, _ in journal.errors if code == codes["NOT_FOUND"]} == set(
                unknown
            )
            assert all(str(key) in message for _, _, key, message in journal.errors if key)
            # The stream that got all those errors still works: it takes the jobs over.
            await owner.stop()
            await other.send(
                pb.JobStreamRequest(
                    subscription=pb.StreamSubscriptionRequest(
                        job_type="bad", type=pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE
                    )
                )
            )
            await eventually(lambda: len(other.received) == 3, 10, "the erring stream still works")
        finally:
            await owner.stop()
            await other.stop()

    run(scenario())


def test_in_flight_limit_counts_over_the_whole_cluster(deployed: LocalCluster) -> None:
    cluster = deployed

    async def scenario() -> None:
        journal = Journal()
        capped = StreamWorker(
            "capped", [grpc_address(cluster, 2)], "cap", journal, jobs_max=4, complete=False
        ).start()
        try:
            await asyncio.wait_for(capped.connected.wait(), 10)
            await asyncio.sleep(0.3)
            await create_instances(cluster, f"{PROCESS}-cap", 12, sorted(cluster.urls))
            await eventually(lambda: len(capped.received) >= 4, 15, "the worker got 4 jobs")
            await asyncio.sleep(1.0)  # more would have come by now
            # (key, partition) of each: a key twice is a duplicate push, 5 keys a broken limit
            got = [(j.key, partition_of(j.key)) for j in capped.received]
            assert len(capped.received) == 4, got
        finally:
            await capped.stop()

    run(scenario())


def test_a_node_that_dies_with_worker_streams_has_their_jobs_freed(deployed: LocalCluster) -> None:
    """Node 3 holds a worker's stream (jobs locked for 60 s) and is killed: the leaders notice
    the broken relay and free that worker's jobs within seconds, on every partition."""
    cluster = deployed
    victim = 3

    async def scenario() -> None:
        journal = Journal()
        doomed = StreamWorker(
            "doomed",
            [grpc_address(cluster, victim)],
            "doom",
            journal,
            lock_ms=60_000,
            complete=False,
        ).start()
        heir = None
        try:
            await asyncio.wait_for(doomed.connected.wait(), 10)
            await asyncio.sleep(0.3)
            await create_instances(cluster, f"{PROCESS}-doom", 3, [1])
            await eventually(lambda: len(doomed.received) == 3, 15, "the doomed worker got 3 jobs")
            heir = StreamWorker("heir", [grpc_address(cluster, 1)], "doom", journal).start()
            await asyncio.wait_for(heir.connected.wait(), 10)
            await asyncio.sleep(0.5)
            assert not heir.received
            killed = time.monotonic()
            await asyncio.to_thread(launcher.kill_node, cluster.dir, victim)
            await eventually(lambda: len(heir.received) == 3, 20, "the heir got the jobs")
            took = time.monotonic() - killed
            print(f"\nfreed {took:.1f} s after the node died (lock 60 s)")
        finally:
            for worker in (doomed, heir):
                if worker is not None:
                    await worker.stop()
        assert not journal.overlaps()

    try:
        run(scenario())
    finally:
        launcher.start_node(cluster.dir, victim)
        launcher.wait_for_leaders(cluster.dir, 60)


def test_leader_kill_while_workers_stream_every_instance_completes_once(
    deployed: LocalCluster,
) -> None:
    cluster = deployed
    count = 60
    victim = cluster.leader_of(2)

    async def scenario() -> list[int]:
        journal = Journal()
        workers = [
            StreamWorker(
                f"k{node}",
                addresses_from(cluster, node),
                "kill",
                journal,
                lock_ms=3_000,
                jobs_max=6,
                work_s=0.05,
            ).start()
            for node in sorted(cluster.urls)
        ]
        survivors = [n for n in sorted(cluster.urls) if n != victim]
        try:
            for worker in workers:
                await asyncio.wait_for(worker.connected.wait(), 10)
            await asyncio.sleep(0.3)
            keys = await create_instances(cluster, f"{PROCESS}-kill", count // 2, survivors)
            await asyncio.to_thread(launcher.kill_node, cluster.dir, victim)
            killed_at = time.monotonic()
            keys += await create_instances(cluster, f"{PROCESS}-kill", count // 2, survivors)

            deadline = time.monotonic() + 40
            while True:  # read in a thread: the workers run on this loop
                states = await asyncio.to_thread(instance_states, cluster, keys, survivors)
                if states["completed"] == count:
                    break
                assert time.monotonic() < deadline, f"not all completed after the kill: {states}"
                await asyncio.sleep(0.3)
            print(f"\nall {count} completed {time.monotonic() - killed_at:.1f} s after the kill")
        finally:
            for worker in workers:
                await worker.stop()
        assert instance_states(cluster, keys, survivors) == Counter({"completed": count})
        delivered = Counter(h.key for h in journal.holds)
        assert len(delivered) == count, "every instance's job was delivered"
        overlaps = journal.overlaps()
        assert not overlaps, overlaps[:3]
        refused = [e for e in journal.errors if e[1] != grpc.StatusCode.UNAVAILABLE.value[0]]
        codes = Counter(e[1] for e in journal.errors)
        print(f"redeliveries {sum(delivered.values()) - count}, error codes {dict(codes)}")
        for _, code, key, message in journal.errors[:5]:
            print(f"  error {code} job {key}: {message[:160]}")
        assert all(e[1] == grpc.StatusCode.FAILED_PRECONDITION.value[0] for e in refused), refused
        return keys

    try:
        run(scenario())
    finally:
        launcher.start_node(cluster.dir, victim)
        launcher.wait_for_leaders(cluster.dir, 60)


def test_a_node_without_partitions_serves_workers_from_every_partition(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """3 nodes, 2 partitions, R = 1: node 3 hosts no replica and no job manager, so every job
    its worker gets comes over a relay. Partition 1's leader (node 1) keeps its jobs for its
    own worker p1; partition 2's leader (node 2) has no worker of its own and goes round robin
    over the remote ones, p3 included."""
    directory = tmp_path_factory.mktemp("partial")
    with LocalCluster(directory, 3, 2, replication=1) as partial:
        partial.deploy(one_task(f"{PROCESS}-partial", "partial"), node=3)

        async def scenario() -> None:
            journal = Journal()
            workers = [
                StreamWorker(f"p{n}", [grpc_address(partial, n)], "partial", journal).start()
                for n in (3, 1)
            ]
            try:
                for worker in workers:
                    await asyncio.wait_for(worker.connected.wait(), 10)
                await asyncio.sleep(0.5)
                # Node 3 (no replica) spreads its creations over both partitions; nodes 1
                # and 2 put theirs on the partition each leads: 10 on each partition.
                await create_instances(partial, f"{PROCESS}-partial", 20, [3, 3, 1, 2])
                await eventually(lambda: len(journal.holds) >= 20, 20, "every job delivered")
            finally:
                for worker in workers:
                    await worker.stop()
            assert journal.by_worker() == Counter({"p3": 5, "p1": 15}), journal.by_worker()
            assert {partition_of(job.key) for job in workers[0].received} == {2}
            assert {partition_of(job.key) for job in workers[1].received} == {1, 2}
            assert not journal.overlaps() and not journal.errors

        run(scenario())
