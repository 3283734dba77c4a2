"""`scripts/bench node`: one node process, M SDK workers, throughput and latency.

What it does:
1. Starts `python -m zennode.cli start` (its own temp data dir, free ports on 127.0.0.1), deploys
   start -> service task -> end, and connects M `Worker`s (the SDK, in this process).
2. **Full rate**: C concurrent REST clients create instances as fast as the node accepts them
   for T seconds (a 503 backpressure answer is counted and retried after a short pause).
   Completed instances per second = the node's own `zennode_process_instances_total{completed}`
   counter over the window, so what is measured is what the node finished, not what we sent.
3. **Half rate**: instances are created on a fixed schedule at half the completed rate for T
   seconds (open loop: late creations are not skipped), where latency is what matters.

Latencies, per phase:
- `push`: job created (the leader stamps `created_at` when it builds the batch) -> the job
  reaches a worker's handler. Same machine, same clock.
- `create`: the REST create call, client side.
- `instance`: instance created -> completed, from the node's
  `zennode_process_instance_duration_seconds` histogram (bucket-interpolated, as Prometheus'
  `histogram_quantile` does). With one service task this is create -> job pushed -> worker
  done -> complete committed: the end-to-end time of the work inside the node.

Limits worth knowing: the workers and the REST clients share this process (one core under the
GIL), the node has the other core. The node process is always stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from zennode.bench.engine import _free_port_base
from zennode.bench.models import JOB_TYPE, one_task_model

READY_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 60.0  # after a phase, wait at most this long for the backlog to finish
BACKPRESSURE_PAUSE_S = 0.01
IN_FLIGHT_MAX = 2_000  # creations awaiting their answer in the paced phase
LATENCIES_MAX = 1_000_000  # samples kept per phase (bounded memory on long runs)
PROCESS_ID = "bench_node"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) buckets."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return buckets[-1][0]


class Scrape:
    """One /metrics scrape, summed over partitions."""

    def __init__(self, text: str) -> None:
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.append((sample.name, sample.labels, sample.value))

    def total(self, name: str, **labels: str) -> float:
        want = labels.items()
        return sum(v for n, lab, v in self.samples if n == name and want <= lab.items())

    def buckets(self, name: str) -> dict[float, float]:
        out: dict[float, float] = {}
        for n, lab, v in self.samples:
            if n == f"{name}_bucket":
                bound = float(lab["le"])
                out[bound] = out.get(bound, 0.0) + v
        return out


def bucket_delta(before: Scrape, after: Scrape, name: str) -> list[tuple[float, float]]:
    old = before.buckets(name)
    return [(bound, count - old.get(bound, 0.0)) for bound, count in after.buckets(name).items()]


class Phase:
    """Samples of one phase (bounded)."""

    def __init__(self) -> None:
        self.push_ms: list[float] = []
        self.create_ms: list[float] = []
        self.created = 0
        self.rejected = 0

    def add(self, samples: list[float], value: float) -> None:
        if len(samples) < LATENCIES_MAX:
            samples.append(value)


class NodeBench:
    def __init__(self, workers: int, concurrency: int, clients: int, seconds: float) -> None:
        self.workers_n = workers
        self.concurrency = concurrency
        self.clients = clients
        self.seconds = seconds
        self.phase = Phase()
        self.delivered = 0

    async def run(self, base: int, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        from zennode.worker import Job, Worker

        url = f"http://127.0.0.1:{base}"
        limits = httpx.Limits(max_connections=self.clients + 8)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
            await _wait_ready(http, proc)
            reply = await http.post("/v1/process-definitions", content=one_task_model(PROCESS_ID))
            reply.raise_for_status()
            workers = []
            for i in range(self.workers_n):
                worker = Worker(
                    f"127.0.0.1:{base + 1}",
                    client_id=f"bench-{i}",
                    max_concurrency=self.concurrency,
                )

                async def handle(job: Job) -> dict[str, Any]:
                    self.delivered += 1
                    self.phase.add(self.phase.push_ms, time.time() * 1000 - job["created_at"])
                    return {}

                worker.handler(JOB_TYPE)(handle)
                workers.append(worker)
            tasks = [asyncio.ensure_future(w.run()) for w in workers]
            try:
                for worker in workers:
                    await worker.wait_connected()
                full = await self._phase(http, rate=None)
                half_rate = max(1.0, full["completed_per_second"] / 2)
                half = await self._phase(http, rate=half_rate)
            finally:
                for worker in workers:
                    await worker.stop(timeout=5)
                await asyncio.gather(*tasks, return_exceptions=True)
        return {"full": full, "half": half}

    async def _phase(self, http: httpx.AsyncClient, rate: float | None) -> dict[str, Any]:
        self.phase = phase = Phase()
        before = Scrape((await http.get("/metrics")).text)
        started = time.monotonic()
        deadline = started + self.seconds
        if rate is None:
            await asyncio.gather(*(self._client_loop(http, deadline) for _ in range(self.clients)))
        else:
            await self._paced(http, rate, started, deadline)
        window_s = time.monotonic() - started
        after = Scrape((await http.get("/metrics")).text)
        completed = after.total("zennode_process_instances_total", action="completed")
        completed -= before.total("zennode_process_instances_total", action="completed")
        drained = await self._drain(http, before, phase.created)
        durations = bucket_delta(before, drained, "zennode_process_instance_duration_seconds")
        return {
            "rate": "max" if rate is None else round(rate, 1),
            "seconds": round(window_s, 2),
            "created": phase.created,
            "rejected_503": phase.rejected,
            "completed_per_second": round(completed / window_s, 1),
            "push_p50_ms": _ms(percentile(phase.push_ms, 50)),
            "push_p99_ms": _ms(percentile(phase.push_ms, 99)),
            "create_p50_ms": _ms(percentile(phase.create_ms, 50)),
            "create_p99_ms": _ms(percentile(phase.create_ms, 99)),
            "instance_p50_ms": _ms(histogram_quantile(0.5, durations) * 1000),
            "instance_p99_ms": _ms(histogram_quantile(0.99, durations) * 1000),
        }

    async def _create(self, http: httpx.AsyncClient) -> None:
        phase = self.phase
        while True:
            sent = time.monotonic()
            reply = await http.post("/v1/process-instances", json={"bpmnProcessId": PROCESS_ID})
            if reply.status_code == 503:
                phase.rejected += 1
                await asyncio.sleep(BACKPRESSURE_PAUSE_S)
                continue
            reply.raise_for_status()
            phase.created += 1
            phase.add(phase.create_ms, (time.monotonic() - sent) * 1000)
            return

    async def _client_loop(self, http: httpx.AsyncClient, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self._create(http)

    async def _paced(
        self, http: httpx.AsyncClient, rate: float, started: float, deadline: float
    ) -> None:
        gate = asyncio.Semaphore(IN_FLIGHT_MAX)
        pending: set[asyncio.Task[None]] = set()

        async def one() -> None:
            try:
                await self._create(http)
            finally:
                gate.release()

        i = 0
        while True:
            at = started + i / rate
            if at >= deadline:
                break
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            task = asyncio.ensure_future(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        if pending:
            await asyncio.gather(*pending)

    async def _drain(self, http: httpx.AsyncClient, before: Scrape, created: int) -> Scrape:
        """Wait (bounded) until every instance of the phase completed; the last scrape."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        base = before.total("zennode_process_instances_total", action="completed")
        while True:
            scrape = Scrape((await http.get("/metrics")).text)
            done = scrape.total("zennode_process_instances_total", action="completed") - base
            if done >= created or time.monotonic() > deadline:
                return scrape
            await asyncio.sleep(0.1)


def _ms(value: float) -> float:
    return round(value, 2) if value == value else value  # NaN stays NaN


async def _wait_ready(http: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with code {proc.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/system/health/ready")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("node not ready")


def start_node(data_dir: Path, partitions: int) -> tuple[subprocess.Popen[bytes], int]:
    from zennode.config import DEFAULT_YAML

    base = _free_port_base(partitions)
    config = data_dir / "node.yaml"
    text = DEFAULT_YAML.replace("partitions: 1 ", f"partitions: {partitions} ", 1)
    text = text.replace("level: INFO", "level: WARNING", 1)
    config.write_text(text)
    log = open(data_dir / "node.log", "wb")  # noqa: SIM115 - handed to the child process
    try:
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
    finally:
        log.close()
    return proc, base


def stop_node(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def run(
    workers: int = 4,
    seconds: float = 10.0,
    partitions: int = 1,
    clients: int = 32,
    concurrency: int = 16,
) -> dict[str, Any]:
    """The whole node benchmark; the dict `scripts/bench node` prints."""
    with tempfile.TemporaryDirectory(prefix="zennode-bench-node-") as tmp:
        proc, base = start_node(Path(tmp), partitions)
        try:
            bench = NodeBench(workers, concurrency, clients, seconds)
            phases = asyncio.run(bench.run(base, proc))
        except BaseException:
            log_tail = (Path(tmp) / "node.log").read_text(errors="replace")[-2000:]
            sys.stderr.write(f"node log (tail):\n{log_tail}\n")
            raise
        finally:
            stop_node(proc)
    return {
        "benchmark": "node",
        "workers": workers,
        "partitions": partitions,
        "clients": clients,
        **phases,
    }
