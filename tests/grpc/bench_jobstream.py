#!/usr/bin/env python3
"""Measure the job stream: push latency (job created -> delivered to a worker) and throughput.

    .venv/bin/python tests/grpc/bench_jobstream.py --workers 4 --instances 2000
    .venv/bin/python tests/grpc/bench_jobstream.py --workers 4 --instances 1000 --rate 200

Starts one `zennode start` process (its own data dir and free ports on 127.0.0.1), deploys
start -> service task -> end, runs N SDK workers in this process, creates instances over REST
(as fast as the node accepts them, or at `--rate` per second) and prints one JSON line plus a
short table. Latency uses the job's `created_at` (stamped by the partition leader when the
batch that created it was built) against the worker's clock: same machine, so comparable.
Not a test: nothing is asserted. The node process is always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from jobstream_helpers import free_port_base, one_task_bpmn  # noqa: E402

from zennode.config import DEFAULT_YAML  # noqa: E402
from zennode.worker import Job, Worker  # noqa: E402

READY_TIMEOUT_S = 30


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_node(data_dir: Path, partitions: int) -> tuple[subprocess.Popen[bytes], int]:
    base = free_port_base(partitions)
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


async def bench(args: argparse.Namespace, base: int, proc: subprocess.Popen[bytes]) -> dict:
    latencies_ms: list[float] = []
    per_worker: dict[str, int] = {}
    done = asyncio.Event()

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{base}", timeout=30) as http:
        await wait_ready(http, proc)
        deployed = await http.post(
            "/v1/process-definitions",
            content=one_task_bpmn("bench", "bench-task"),
            headers={"content-type": "application/xml"},
        )
        deployed.raise_for_status()

        workers = []
        for i in range(args.workers):
            worker = Worker(
                f"127.0.0.1:{base + 1}", client_id=f"bench-{i}", max_concurrency=args.concurrency
            )
            name = worker.client_id

            async def handle(job: Job, name: str = name) -> dict:
                latencies_ms.append(time.time() * 1000 - job["created_at"])
                per_worker[name] = per_worker.get(name, 0) + 1
                if len(latencies_ms) >= args.instances:
                    done.set()
                return {}

            worker.handler("bench-task")(handle)
            workers.append(worker)
        tasks = [asyncio.ensure_future(w.run()) for w in workers]
        for worker in workers:
            await worker.wait_connected()

        started = time.monotonic()
        created = 0
        limit = asyncio.Semaphore(args.clients)

        async def create() -> None:
            nonlocal created
            async with limit:
                response = await http.post("/v1/process-instances", json={"bpmnProcessId": "bench"})
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
            pending.append(asyncio.ensure_future(create()))
        await asyncio.gather(*pending)
        create_s = time.monotonic() - started
        await asyncio.wait_for(done.wait(), 120)
        total_s = time.monotonic() - started
        for worker in workers:
            await worker.stop(timeout=5)
        await asyncio.gather(*tasks, return_exceptions=True)

    return {
        "workers": args.workers,
        "partitions": args.partitions,
        "instances": args.instances,
        "rate": args.rate or "max",
        "created_per_s": round(created / create_s, 1),
        "jobs_per_s": round(len(latencies_ms) / total_s, 1),
        "push_p50_ms": round(percentile(latencies_ms, 50), 1),
        "push_p99_ms": round(percentile(latencies_ms, 99), 1),
        "push_mean_ms": round(statistics.fmean(latencies_ms), 1),
        "share": sorted(per_worker.values()),
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zn-bench-") as tmp:
        proc, base = start_node(Path(tmp), args.partitions)
        try:
            result = asyncio.run(bench(args, base, proc))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
    print(json.dumps(result))
    for name, value in result.items():
        print(f"  {name:>14}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
