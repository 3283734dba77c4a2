"""`scripts/bench node`: one node process, M SDK workers, throughput and latency.

What it does:
1. Starts `python -m zennode.cli start` (its own temp data dir, free ports on 127.0.0.1),
   deploys start -> service task -> end, and starts M `Worker`s (the SDK) in a second process
   (`zennode.tools.bench.workers`), so the load generator and the workers do not share a GIL.
2. **Full rate**: C concurrent keep-alive connections create instances over REST as fast as
   the node accepts them for T seconds (a 503 backpressure answer is counted and retried after
   a short pause). Completed instances per second is the node's own
   `zennode_process_instances_total{action="completed"}` over the window: what the node
   finished, not what was sent.
3. **Half rate**: instances are created on a fixed schedule at half the full-rate completions
   for T seconds (open loop: late creations are not skipped); here latency is what matters.

Latencies, per phase:
- `push`: job created (the leader stamps `created_at` when it builds the batch) -> the job
  reaches a worker's handler. Same machine, same clock.
- `create`: the REST create call, client side.
- `instance`: instance created -> completed, from the node's
  `zennode_process_instance_duration_seconds` histogram (bucket-interpolated, as Prometheus'
  `histogram_quantile` does). With one service task this is create -> job pushed -> worker
  done -> complete committed: the end-to-end time of the work.

On a 2-core machine the three processes share the cores; the node process is one core at
most (the GIL). Every process this starts is stopped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from zennode.tools.bench.cpu import cpu_seconds, load_average, process_cpu_seconds
from zennode.tools.bench.engine import engine_per_second
from zennode.tools.bench.models import one_task_model
from zennode.tools.bench.rawhttp import Connection
from zennode.tools.ports import reserve_node

READY_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 60.0  # after a phase, wait at most this long for the backlog to finish
DRAIN_POLL_S = 0.25  # a scrape costs the node ~5 ms (prometheus_client), so not too often
BACKPRESSURE_PAUSE_S = 0.01
IN_FLIGHT_MAX = 2_000  # creations awaiting their answer in the paced phase
LATENCIES_MAX = 1_000_000  # samples kept per phase (bounded memory on long runs)
PROCESS_ID = "bench_node"
PORT_SPAN = 100  # a node's ports: base .. base + 10 + partitions (kept well apart)
RETRIES_MAX = 10_000  # 503s in a row for one creation before the run gives up


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
    """Samples of one phase (bounded); push latencies come from the worker process."""

    def __init__(self) -> None:
        self.create_ms: list[float] = []
        self.created = 0
        self.rejected = 0
        self.wall_start_ms = time.time() * 1000
        self.wall_end_ms = self.wall_start_ms

    def add(self, samples: list[float], value: float) -> None:
        if len(samples) < LATENCIES_MAX:
            samples.append(value)


class NodeBench:
    """Both phases against one node or several (connections spread over `targets`)."""

    def __init__(
        self,
        targets: int | list[int],
        clients: int,
        seconds: float,
        paced_rate: float | None = None,
        node_pids: list[int] | None = None,
        client_pids: list[int] | None = None,
    ) -> None:
        self.targets = [targets] if isinstance(targets, int) else list(targets)
        self.node_pids = list(node_pids or [])  # whose CPU time each phase reports
        # The benchmark's own side: this process (load generator) and the workers' process.
        self.client_pids = [os.getpid(), *(client_pids or [])]
        self.paced_rate = paced_rate  # the second phase's rate; None: half of the first's
        self.clients = clients
        self.seconds = seconds
        self.phase = Phase()

    async def run(self) -> tuple[Phase, dict, Phase, dict]:
        """Both phases; each phase with its summary (push latency is added by the caller)."""
        async with httpx.AsyncClient(base_url=self._url(0), timeout=30) as http:
            reply = await http.post("/v1/process-definitions", content=one_task_model(PROCESS_ID))
            reply.raise_for_status()
            return await self.phases(http)

    async def phases(self, http: httpx.AsyncClient) -> tuple[Phase, dict, Phase, dict]:
        full = await self._phase(http, rate=None)
        full_phase = self.phase
        half_rate = self.paced_rate or max(1.0, full["completed_per_second"] / 2)
        half = await self._phase(http, rate=half_rate)
        return full_phase, full, self.phase, half

    async def _phase(self, http: httpx.AsyncClient, rate: float | None) -> dict[str, Any]:
        self.phase = phase = Phase()
        before = await self.scrape(http)
        cpu_before = cpu_seconds(self.node_pids)
        per_node_before = [process_cpu_seconds(pid) for pid in self.node_pids]
        client_before = cpu_seconds(self.client_pids)
        load = load_average()
        started = time.monotonic()
        phase.wall_start_ms = time.time() * 1000
        deadline = started + self.seconds
        if rate is None:
            await asyncio.gather(*(self.client_loop(i, deadline) for i in range(self.clients)))
        else:
            await self._paced(rate, started, deadline)
        window_s = time.monotonic() - started
        phase.wall_end_ms = time.time() * 1000
        after = await self.scrape(http)
        completed = after.total("zennode_process_instances_total", action="completed")
        completed -= before.total("zennode_process_instances_total", action="completed")
        drained = await self._drain(http, before, phase.created)
        durations = bucket_delta(before, drained, "zennode_process_instance_duration_seconds")
        cpu_after = cpu_seconds(self.node_pids)
        per_node_after = [process_cpu_seconds(pid) for pid in self.node_pids]
        client_after = cpu_seconds(self.client_pids)
        return {
            "rate": "max" if rate is None else round(rate, 1),
            "seconds": round(window_s, 2),
            "created": phase.created,
            "rejected_503": phase.rejected,
            "created_per_second": round(phase.created / window_s, 1),
            "completed_per_second": round(completed / window_s, 1),
            "forwarded": int(
                after.total("zennode_forwarded_requests_total")
                - before.total("zennode_forwarded_requests_total")
            ),
            "relayed": int(
                after.total("zennode_jobs_pushed_remote_total")
                - before.total("zennode_jobs_pushed_remote_total")
            ),
            "create_p50_ms": _ms(percentile(phase.create_ms, 50)),
            "create_p99_ms": _ms(percentile(phase.create_ms, 99)),
            "instance_p50_ms": _ms(histogram_quantile(0.5, durations) * 1000),
            "instance_p99_ms": _ms(histogram_quantile(0.99, durations) * 1000),
            "commands_per_batch": _per_batch(before, drained),
            **_cpu_figures(cpu_before, cpu_after, phase.created, load),
            **_per_node(per_node_before, per_node_after, phase.created),
            **_per_instance("client_cpu_ms_per_instance", client_before, client_after, phase),
        }

    async def _create(self, conn: Connection) -> None:
        phase = self.phase
        body = {"bpmnProcessId": PROCESS_ID}
        for _attempt in range(RETRIES_MAX):
            sent = time.monotonic()
            status, reply = await conn.post_json("/v1/process-instances", body)
            if status == 503:
                phase.rejected += 1
                await asyncio.sleep(BACKPRESSURE_PAUSE_S)
                continue
            if status >= 300:
                raise RuntimeError(f"create failed: {status} {reply[:200]!r}")
            phase.created += 1
            phase.add(phase.create_ms, (time.monotonic() - sent) * 1000)
            return
        raise RuntimeError(f"create refused {RETRIES_MAX} times in a row (backpressure)")

    def _url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.targets[i % len(self.targets)]}"

    async def scrape(self, http: httpx.AsyncClient) -> Scrape:
        """/metrics of every target, merged (events are counted on each partition's leader)."""
        merged = Scrape("")
        for i in range(len(self.targets)):
            merged.samples += Scrape((await http.get(f"{self._url(i)}/metrics")).text).samples
        return merged

    async def client_loop(self, index: int, deadline: float) -> None:
        conn = Connection("127.0.0.1", self.targets[index % len(self.targets)])
        try:
            while time.monotonic() < deadline:
                await self._create(conn)
        finally:
            await conn.close()

    async def _paced(self, rate: float, started: float, deadline: float) -> None:
        """Open loop at `rate`: a pool of connections, each creation at its scheduled time."""
        idle = [
            Connection("127.0.0.1", self.targets[i % len(self.targets)])
            for i in range(self.clients)
        ]
        gate = asyncio.Semaphore(len(idle))
        pending: set[asyncio.Task[None]] = set()

        async def one() -> None:
            conn = idle.pop()
            try:
                await self._create(conn)
            finally:
                idle.append(conn)
                gate.release()

        i = 0
        try:
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
        finally:
            for conn in idle:
                await conn.close()

    async def _drain(self, http: httpx.AsyncClient, before: Scrape, created: int) -> Scrape:
        """Wait (bounded) until every instance of the phase completed; the last scrape."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        base = before.total("zennode_process_instances_total", action="completed")
        while True:
            scrape = await self.scrape(http)
            done = scrape.total("zennode_process_instances_total", action="completed") - base
            if done >= created or time.monotonic() > deadline:
                return scrape
            await asyncio.sleep(DRAIN_POLL_S)


def _per_batch(before: Scrape, after: Scrape) -> float:
    """Mean commands per applied Raft batch over the phase (every replica counts its own)."""
    name = "zennode_batch_size_commands"
    commands = after.total(f"{name}_sum") - before.total(f"{name}_sum")
    batches = after.total(f"{name}_count") - before.total(f"{name}_count")
    return round(commands / batches, 1) if batches else 0.0


def _cpu_figures(
    before: float | None, after: float | None, created: int, load: float | None
) -> dict[str, float]:
    """The nodes' CPU for the phase (its drain included) per instance, and the machine's
    load average when it began: throughput on a shared machine is read against these."""
    figures: dict[str, float] = {}
    if load is not None:
        figures["load_average"] = load
    if before is not None and after is not None and created:
        figures["node_cpu_ms_per_instance"] = round((after - before) * 1000 / created, 2)
    return figures


def _per_node(
    before: list[float | None], after: list[float | None], created: int
) -> dict[str, list[float]]:
    """Each node's CPU ms per instance, in node order: how evenly the cluster shares the
    work (the busiest node is the one that saturates first when every node has its own
    cores)."""
    pairs = [(a, b) for a, b in zip(before, after, strict=True) if a is not None and b is not None]
    if not created or len(pairs) < 2 or len(pairs) < len(before):
        return {}
    return {
        "node_cpu_ms_per_instance_by_node": [round((b - a) * 1000 / created, 2) for a, b in pairs]
    }


def _per_instance(
    name: str, before: float | None, after: float | None, phase: Phase
) -> dict[str, float]:
    """CPU ms per created instance under `name` (the load generator and workers share the
    machine with the nodes: what they use is not available to the cluster)."""
    if before is None or after is None or not phase.created:
        return {}
    return {name: round((after - before) * 1000 / phase.created, 2)}


def push_latencies(samples: list[list[float]], phase: Phase) -> dict[str, float]:
    """Push latency of the jobs created inside the phase's window."""
    window = [
        delivered - created
        for created, delivered in samples
        if phase.wall_start_ms <= created <= phase.wall_end_ms
    ]
    return {
        "jobs_pushed": len(window),
        "push_p50_ms": _ms(percentile(window, 50)),
        "push_p99_ms": _ms(percentile(window, 99)),
    }


def _ms(value: float) -> float:
    return round(value, 2) if value == value else value  # NaN stays NaN


def wait_ready(base: int, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=f"http://127.0.0.1:{base}", timeout=5) as http:
        while time.monotonic() < deadline:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a node exited with code {proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if http.get("/system/health/ready").status_code == 200:
                    return
            time.sleep(0.1)
    raise TimeoutError("node not ready")


def find_leader(bases: list[int]) -> int:
    """The port base of the node that leads partition 1 (replicated runs)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        for base in bases:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                status = httpx.get(f"http://127.0.0.1:{base}/system/status", timeout=5).json()
                for partition in status.get("partitions", []):
                    if partition.get("partition") == 1 and partition.get("role") == "leader":
                        return base
        time.sleep(0.1)
    raise TimeoutError("no leader for partition 1")


def _port_bases(count: int, partitions: int) -> list[int]:
    """`count` port bases whose port ranges are free and do not overlap."""
    bases: list[int] = []
    for _ in range(100):
        if len(bases) == count:
            return bases
        base = reserve_node(partitions).base
        if all(abs(base - other) > PORT_SPAN for other in bases):
            bases.append(base)
    raise RuntimeError("no free port ranges found")


def node_yaml(
    node_id: int, bases: list[int], partitions: int, secret: str | None, fsync: bool = True
) -> str:
    """A config of node `node_id` among members with the given port bases (quiet logs)."""
    members = "".join(
        f"""  - id: {i}
    host: 127.0.0.1
    ports: {{http: {b}, grpc: {b + 1}, internal: {b + 2}, raft_base: {b + 10}}}
"""
        for i, b in enumerate(bases, start=1)
    )
    return f"""node_id: {node_id}
partitions: {partitions}
replication_factor: {len(bases)}
secret: {json.dumps(secret)}
members:
{members}log:
  level: WARNING
  format: text
raft:
  fsync: {"true" if fsync else "false"}
"""


def start_nodes(
    data_dir: Path, partitions: int, replicas: int, fsync: bool = True
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """`replicas` node processes (every partition on every node); their port bases."""
    bases = _port_bases(replicas, partitions)
    secret = secrets.token_urlsafe(24) if replicas > 1 else None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for node_id, _base in enumerate(bases, start=1):
            node_dir = data_dir / f"node{node_id}"
            node_dir.mkdir()
            config = node_dir / "node.yaml"
            config.write_text(node_yaml(node_id, bases, partitions, secret, fsync))
            with open(node_dir / "node.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "zennode.cli",
                            "start",
                            "--config",
                            str(config),
                            "--data-dir",
                            str(node_dir / "data"),
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
    except BaseException:
        for proc in procs:
            stop_process(proc)
        raise
    return procs, bases


def start_workers(
    grpc_addresses: list[str], workers: int, concurrency: int, out: Path
) -> subprocess.Popen[str]:
    """The SDK workers in their own process; returns once they are all connected."""
    address_args = [arg for address in grpc_addresses for arg in ("--address", address)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zennode.tools.bench.workers",
            *address_args,
            "--workers",
            str(workers),
            "--concurrency",
            str(concurrency),
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = _read_line_within(proc, READY_TIMEOUT_S)
    if ready.strip() != "ready":
        stop_process(proc)
        raise RuntimeError(f"workers did not start (said {ready!r})")
    return proc


def _read_line_within(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """First line of the child's stdout, or '' after `timeout_s`."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            return ""
    return proc.stdout.readline()


def stop_process(proc: subprocess.Popen[Any]) -> None:
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
    replicas: int = 1,
    paced_rate: float | None = None,
    fsync: bool = True,
) -> dict[str, Any]:
    """The whole node benchmark; the dict `scripts/bench node` prints.

    `fsync`: `raft.fsync` of the nodes (the durable default; False: page cache only).

    With `replicas` > 1 it starts that many node processes, every partition replicated to
    all of them, and sends the load and the workers to the leader (requests are not
    forwarded between nodes yet, so only one partition is allowed then).
    """
    if replicas > 1 and partitions != 1:
        raise ValueError("replicated runs use one partition until nodes forward requests")
    calibration = engine_per_second()  # before any node starts: the machine's speed now
    with tempfile.TemporaryDirectory(prefix="zennode-bench-node-") as tmp:
        procs, bases = start_nodes(Path(tmp), partitions, replicas, fsync)
        worker_proc: subprocess.Popen[str] | None = None
        samples_file = Path(tmp) / "push-samples.json"
        try:
            for base in bases:
                wait_ready(base, procs)
            leader = find_leader(bases) if replicas > 1 else bases[0]
            worker_proc = start_workers(
                [f"127.0.0.1:{leader + 1}"], workers, concurrency, samples_file
            )
            pids = [proc.pid for proc in procs]
            bench = NodeBench(
                leader, clients, seconds, paced_rate, node_pids=pids, client_pids=[worker_proc.pid]
            )
            full_phase, full, half_phase, half = asyncio.run(bench.run())
            stop_process(worker_proc)
            samples = json.loads(samples_file.read_text())
        except BaseException:
            for log in sorted(Path(tmp).glob("node*/node.log")):
                tail = log.read_text(errors="replace")[-1500:]
                sys.stderr.write(f"{log.parent.name} log (tail):\n{tail}\n")
            raise
        finally:
            if worker_proc is not None:
                stop_process(worker_proc)
            for proc in procs:
                stop_process(proc)
    full.update(push_latencies(samples, full_phase))
    half.update(push_latencies(samples, half_phase))
    return {
        "benchmark": "node",
        "workers": workers,
        "partitions": partitions,
        "replicas": replicas,
        "clients": clients,
        "fsync": fsync,
        "engine_per_second": calibration,
        "full": full,
        "half": half,
    }
