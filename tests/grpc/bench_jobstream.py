#!/usr/bin/env python3
"""Measure the job stream: push latency (job created -> delivered to a worker) and throughput.

    .venv/bin/python tests/grpc/bench_jobstream.py --workers 4 --instances 2000
    .venv/bin/python tests/grpc/bench_jobstream.py --workers 4 --instances 1000 --rate 200
    .venv/bin/python tests/grpc/bench_jobstream.py --nodes 3 --partitions 3 --worker-nodes 1

Starts one `zennode start` process (its own data dir and free ports on 127.0.0.1), or with
`--nodes N` a local cluster (R = N) through `scripts/cluster`'s launcher, deploys
start -> service task -> end, runs N SDK workers in this process (worker i connects to node
i mod `--worker-nodes`: with 1, every job of a partition led elsewhere crosses the node-to-node
relay), creates instances over REST spread over all nodes (as fast as they accept them, or at
`--rate` per second) and prints one JSON line plus a short table. Latency uses the job's
`created_at` (stamped by the partition leader when the batch that created it was built)
against the worker's clock: same machine, so comparable. Not a test: nothing is asserted.
The node processes are always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `support`
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support.bpmn import one_task  # noqa: E402

from zennode.config import DEFAULT_YAML  # noqa: E402
from zennode.tools.ports import reserve_cluster, reserve_node  # noqa: E402
from zennode.worker import Job, Worker  # noqa: E402

READY_TIMEOUT_S = 30


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_node(data_dir: Path, partitions: int) -> tuple[subprocess.Popen[bytes], int]:
    base = reserve_node(partitions).base
    config = data_dir / "node.yaml"
    config.write_text(DEFAULT_YAML.replace("partitions: 1 ", f"partitions: {partitions} "))
    log = open(data_dir / "node.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zennode.cli",
            "start",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir / "data"),
            "--port-base",
            str(base),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, base


async def wait_ready(http: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}")
        try:
            if (await http.get("/system/health/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("node not ready")


@dataclasses.dataclass
class Samples:
    """What the workers saw: push latency per job and jobs per worker."""

    target: int
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    per_worker: dict[str, int] = dataclasses.field(default_factory=dict)
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


def make_workers(args: argparse.Namespace, bases: list[int], samples: Samples) -> list[Worker]:
    """Worker i connects to node i mod --worker-nodes (its gRPC port is HTTP port + 1)."""
    worker_nodes = args.worker_nodes or len(bases)
    workers = []
    for i in range(args.workers):
        address = f"127.0.0.1:{bases[i % worker_nodes] + 1}"
        worker = Worker(address, client_id=f"bench-{i}", max_concurrency=args.concurrency)

        async def handle(job: Job, name: str = worker.client_id) -> dict:
            samples.latencies_ms.append(time.time() * 1000 - job["created_at"])
            samples.per_worker[name] = samples.per_worker.get(name, 0) + 1
            if len(samples.latencies_ms) >= samples.target:
                samples.done.set()
            return {}

        worker.handler("bench-task")(handle)
        workers.append(worker)
    return workers


async def create_load(args: argparse.Namespace, clients: list[httpx.AsyncClient]) -> int:
    """Create --instances instances, spread over the nodes; returns how many were created."""
    started = time.monotonic()
    created = 0
    limit = asyncio.Semaphore(args.clients)

    async def create(client: httpx.AsyncClient) -> None:
        nonlocal created
        async with limit:
            for _ in range(50):  # a 503 while a leader is elected: retry
                response = await client.post(
                    "/v1/process-instances", json={"bpmnProcessId": "bench"}
                )
                if response.status_code != 503:
                    break
                await asyncio.sleep(0.1)
            response.raise_for_status()
            created += 1

    pending = []
    for i in range(args.instances):
        if args.rate:
            delay = started + i / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await limit.acquire()
            limit.release()
        pending.append(asyncio.ensure_future(create(clients[i % len(clients)])))
    await asyncio.gather(*pending)
    return created


async def bench(
    args: argparse.Namespace, bases: list[int], proc: subprocess.Popen[bytes] | None
) -> dict:
    """`bases`: each node's HTTP port. `proc`: the single node's process (to wait for)."""
    samples = Samples(target=args.instances)
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{b}", timeout=30) for b in bases]
    try:
        if proc is not None:
            await wait_ready(clients[0], proc)
        deployed = await clients[0].post(
            "/v1/process-definitions",
            content=one_task("bench", "bench-task"),
            headers={"content-type": "application/xml"},
        )
        deployed.raise_for_status()
        workers = make_workers(args, bases, samples)
        tasks = [asyncio.ensure_future(w.run()) for w in workers]
        for worker in workers:
            await worker.wait_connected()
        await asyncio.sleep(0.5)  # subscriptions reach the other nodes' job managers
        started = time.monotonic()
        created = await create_load(args, clients)
        create_s = time.monotonic() - started
        await asyncio.wait_for(samples.done.wait(), 120)
        total_s = time.monotonic() - started
        for worker in workers:
            await worker.stop(timeout=5)
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for client in clients:
            await client.aclose()
    latencies = samples.latencies_ms
    return {
        "nodes": len(bases),
        "worker_nodes": args.worker_nodes or len(bases),
        "workers": args.workers,
        "partitions": args.partitions,
        "instances": args.instances,
        "rate": args.rate or "max",
        "created_per_s": round(created / create_s, 1),
        "jobs_per_s": round(len(latencies) / total_s, 1),
        "push_p50_ms": round(percentile(latencies, 50), 1),
        "push_p99_ms": round(percentile(latencies, 99), 1),
        "push_mean_ms": round(statistics.fmean(latencies), 1),
        "share": sorted(samples.per_worker.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8, help="handlers per worker")
    parser.add_argument("--clients", type=int, default=32, help="concurrent REST creates")
    parser.add_argument(
        "--rate", type=float, default=0, help="instances/s; 0 = as fast as possible"
    )
    parser.add_argument("--nodes", type=int, default=1, help="cluster of N nodes (R = N)")
    parser.add_argument(
        "--worker-nodes", type=int, default=0, help="workers connect to the first K nodes"
    )
    args = parser.parse_args()
    if args.nodes > 1:
        result = run_cluster(args)
    else:
        result = run_single(args)
    print(json.dumps(result))
    for name, value in result.items():
        print(f"  {name:>14}: {value}")
    return 0


def run_cluster(args: argparse.Namespace) -> dict:

    from zennode.tools import launcher

    quiet = {"log": {"level": "WARNING", "format": "text"}}
    with tempfile.TemporaryDirectory(prefix="zn-bench-cluster-") as tmp:
        try:
            info = launcher.up(
                tmp,
                nodes=args.nodes,
                partitions=args.partitions,
                replication=args.nodes,
                base_port=reserve_cluster(args.nodes, args.partitions).base,
                extra=quiet,
            )
            bases = [int(node["http"].rsplit(":", 1)[1]) for node in info["nodes"]]
            return asyncio.run(bench(args, bases, None))
        finally:
            launcher.down(tmp)


def run_single(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="zn-bench-") as tmp:
        proc, base = start_node(Path(tmp), args.partitions)
        try:
            return asyncio.run(bench(args, [base], proc))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
