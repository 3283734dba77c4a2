"""Measure a local cluster: failover gap and command throughput (numbers for docs/cluster.md).

    python -m zennode.tools.measure failover [--kills 5] [--dir DIR]
    python -m zennode.tools.measure throughput [--clients 4] [--seconds 10] [--dir DIR]
    python -m zennode.tools.measure reads [--seconds 8] [--rounds 2] [--dir DIR]

Both start their own 3-node cluster (P=3, R=3) with the launcher behind `scripts/cluster`, on
free ports of 127.0.0.1, and always stop it. They print a table and one JSON line.

- failover: while clients create instances, SIGKILL the leader of a partition, restart it
  once the partition serves again, wait until the replicas' digests agree; repeated. The gap
  is the time between the last command the partition applied before the kill and the first
  one after it, as seen by a probe that sends a command to that partition every 10 ms through
  the surviving nodes.
- throughput: client processes create instances of a process without wait states (start ->
  end, one command each) through all nodes round robin, each with `--concurrency` requests in
  flight; instances acknowledged per second.
- reads: the cost of linearizable reads (the leader confirms its leadership with a majority
  first, ReadIndex) against `consistency=local` (the receiving node's replica as it is).
  While a client process keeps creating instances, a reader process reads instances by key
  through all nodes, alternating the two levels phase by phase; p50/p99 per level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from zennode.engine.keys import make_key
from zennode.tools import launcher
from zennode.tools.ports import reserve_cluster

PROCESS_ID = "measure-straight"
PROCESS_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="d" targetNamespace="http://zennode.measure">
  <bpmn:process id="{PROCESS_ID}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
PROBE_INTERVAL_S = 0.01
IDLE_SAMPLE_S = 3.0


def _deploy(url: str) -> None:
    import httpx

    response = httpx.post(
        f"{url}/v1/process-definitions",
        content=PROCESS_XML.encode(),
        headers={"content-type": "application/xml"},
        timeout=30,
    )
    response.raise_for_status()


def _wait_converged(directory: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topology = launcher.topology(directory)
        ok = all(
            p["leader"] is not None
            and all(r.get("up") for r in p["replicas"])
            and len({(r["digest"], r["appliedIndex"]) for r in p["replicas"]}) == 1
            for p in topology["partitions"]
        )
        if ok:
            return
        time.sleep(0.3)
    raise TimeoutError(f"replicas did not converge: {topology['partitions']}")


# ------------------------------------------------------------------ failover


def failover(directory: Path, kills: int) -> dict[str, Any]:
    import httpx

    info = launcher.up(directory, base_port=reserve_cluster(3, 3).base)
    urls = {n["id"]: n["http"] for n in info["nodes"]}
    _deploy(urls[1])
    stop = threading.Event()
    running = threading.Event()  # cleared while the replicas are compared (no new entries)
    running.set()
    probe_ok: dict[int, list[float]] = {1: [], 2: [], 3: []}
    created = [0]
    errors: list[str] = []

    def probe(partition_id: int) -> None:
        missing = make_key(partition_id, 2**40)
        n = 0
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                running.wait(timeout=1)
                n += 1
                url = urls[n % 3 + 1]
                try:
                    r = client.post(f"{url}/v1/jobs/{missing}/complete", json={})
                    if r.status_code == 404:
                        probe_ok[partition_id].append(time.monotonic())
                except httpx.HTTPError:
                    pass
                time.sleep(PROBE_INTERVAL_S)

    def creator(worker: int) -> None:
        n = worker
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                running.wait(timeout=1)
                n += 1
                try:
                    r = client.post(
                        f"{urls[n % 3 + 1]}/v1/process-instances",
                        json={"bpmnProcessId": PROCESS_ID},
                    )
                    if r.status_code == 201:
                        created[0] += 1
                    elif r.status_code != 503:
                        errors.append(r.text[:200])
                except httpx.HTTPError:
                    pass

    threads = [threading.Thread(target=probe, args=(p,), daemon=True) for p in (1, 2, 3)]
    threads += [threading.Thread(target=creator, args=(w,), daemon=True) for w in range(2)]
    for t in threads:
        t.start()
    gaps = []
    try:
        for i in range(kills):
            partition_id = i % 3 + 1
            time.sleep(1.5)
            victim = launcher.wait_balanced(directory, 60)[partition_id]
            killed_at = time.monotonic()
            launcher.kill_node(directory, victim)
            deadline = killed_at + 30
            while time.monotonic() < deadline:
                # an answer the dying leader sent just before SIGKILL may arrive after killed_at:
                # wait for answers well after the kill, then take the longest silence
                if any(t > killed_at + 0.3 for t in probe_ok[partition_id]):
                    break
                time.sleep(0.05)
            time.sleep(0.5)
            gap = outage_s(probe_ok[partition_id], killed_at)
            if gap is None:
                raise RuntimeError(f"partition {partition_id} did not serve around kill {i + 1}")
            gaps.append(gap)
            print(
                f"kill {i + 1}: node {victim} (leader of partition {partition_id}): "
                f"gap {gap * 1000:.0f} ms",
                flush=True,
            )
            launcher.start_node(directory, victim)
            launcher.wait_for_leaders(directory, 60)
            running.clear()
            try:
                _wait_converged(directory)
            finally:
                running.set()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        launcher.down(directory)
    return {
        "kills": kills,
        "gap_ms_median": round(statistics.median(gaps) * 1000),
        "gap_ms_worst": round(max(gaps) * 1000),
        "gaps_ms": [round(g * 1000) for g in gaps],
        "instances_created": created[0],
        "unexpected_errors": len(errors),
    }


def outage_s(successes: list[float], killed_at: float, window_s: float = 15.0) -> float | None:
    """The longest silence between consecutive successful probes from 1 s before the kill to
    `window_s` after it (None without successes on both sides of the kill)."""
    times = sorted(t for t in successes if killed_at - 1.0 <= t <= killed_at + window_s)
    if not times or times[0] > killed_at or times[-1] <= killed_at:
        return None
    return max(b - a for a, b in zip(times, times[1:], strict=False))


# ---------------------------------------------------------------- throughput


def _client_process(urls: list[str], seconds: float, concurrency: int, out: Any) -> None:
    import httpx

    async def run() -> tuple[int, int, list[float], list[str]]:
        done = 0
        refused = 0
        latencies: list[float] = []
        samples: list[str] = []
        deadline = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def worker(offset: int) -> None:
                nonlocal done, refused
                n = offset
                while time.monotonic() < deadline:
                    n += 1
                    started = time.perf_counter()
                    r = await client.post(
                        f"{urls[n % len(urls)]}/v1/process-instances",
                        json={"bpmnProcessId": PROCESS_ID},
                    )
                    if r.status_code == 201:
                        done += 1
                        latencies.append(time.perf_counter() - started)
                    else:
                        refused += 1
                        if len(samples) < 3:
                            samples.append(f"{r.status_code} {r.text[:160]}")

            await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return done, refused, latencies, samples

    out.put(asyncio.run(run()))


def throughput(directory: Path, clients: int, seconds: float, concurrency: int) -> dict[str, Any]:
    info = launcher.up(directory, base_port=reserve_cluster(3, 3).base)
    urls = [n["http"] for n in info["nodes"]]
    try:
        _deploy(urls[0])
        launcher.wait_balanced(directory, 60)  # leaders settled: no hand-over mid-run
        queue: Any = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(
                target=_client_process, args=(urls, seconds, concurrency, queue), daemon=True
            )
            for _ in range(clients)
        ]
        pids = [n["pid"] for n in info["nodes"]]
        idle_before = _cpu_seconds(pids)
        time.sleep(IDLE_SAMPLE_S)  # what the nodes burn with no requests (polls, timers)
        idle_cpu_per_s = (_cpu_seconds(pids) - idle_before) / IDLE_SAMPLE_S
        cpu_before = _cpu_seconds(pids)
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        for p in procs:
            p.start()
        results = [queue.get(timeout=seconds + 60) for _ in procs]
        elapsed = time.monotonic() - started
        node_cpu = _cpu_seconds(pids) - cpu_before
        load_after = os.getloadavg()[0]
        for p in procs:
            p.join(timeout=10)
        _wait_converged(directory)
    finally:
        launcher.down(directory)
    done = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[2])

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

    return {
        "clients": clients,
        "concurrency_per_client": concurrency,
        "seconds": round(elapsed, 1),
        "instances_created": done,
        "refused_503": sum(r[1] for r in results),
        "refused_samples": [x for r in results for x in r[3]][:3],
        "instances_per_s": round(done / seconds),
        "latency_ms_p50": pct(0.5) if latencies else None,
        "latency_ms_p99": pct(0.99) if latencies else None,
        "node_cpu_ms_per_instance": round(node_cpu * 1000 / done, 2) if done else None,
        "node_cpu_ms_per_instance_minus_idle": (
            round((node_cpu - idle_cpu_per_s * elapsed) * 1000 / done, 2) if done else None
        ),
        "nodes_idle_cpu_percent": round(idle_cpu_per_s * 100, 1),
        "machine_load_avg": [round(load_before, 1), round(load_after, 1)],
    }


# --------------------------------------------------------------------- reads


def _read_process(
    urls: list[str], keys: list[int], consistency: str, seconds: float, concurrency: int, out: Any
) -> None:
    import httpx

    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        failed = 0
        deadline = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def worker(offset: int) -> None:
                nonlocal failed
                n = offset
                while time.monotonic() < deadline:
                    n += 7
                    key = keys[n % len(keys)]
                    started = time.perf_counter()
                    r = await client.get(
                        f"{urls[n % len(urls)]}/v1/process-instances/{key}",
                        params={"consistency": consistency},
                    )
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - started)
                    else:
                        failed += 1

            await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return latencies, failed

    out.put(asyncio.run(run()))


def reads(
    directory: Path, seconds: float, rounds: int, concurrency: int, write_concurrency: int
) -> dict[str, Any]:
    import httpx

    info = launcher.up(directory, base_port=reserve_cluster(3, 3).base)
    urls = [n["http"] for n in info["nodes"]]
    per_level: dict[str, list[float]] = {"linearizable": [], "local": []}
    failed = dict.fromkeys(per_level, 0)
    try:
        _deploy(urls[0])
        launcher.wait_balanced(directory, 60)
        with httpx.Client(timeout=30) as client:
            keys = [
                client.post(
                    f"{urls[i % 3]}/v1/process-instances", json={"bpmnProcessId": PROCESS_ID}
                ).json()["processInstanceKey"]
                for i in range(300)
            ]
        writes: Any = multiprocessing.Queue()
        writer = multiprocessing.Process(
            target=_client_process,
            args=(urls, rounds * 2 * (seconds + 1) + 2, write_concurrency, writes),
            daemon=True,
        )
        writer.start()
        time.sleep(1.0)
        for _round in range(rounds):
            for level in per_level:
                queue: Any = multiprocessing.Queue()
                proc = multiprocessing.Process(
                    target=_read_process,
                    args=(urls, keys, level, seconds, concurrency, queue),
                    daemon=True,
                )
                proc.start()
                latencies, errors = queue.get(timeout=seconds + 60)
                proc.join(timeout=10)
                per_level[level] += latencies
                failed[level] += errors
        created = writes.get(timeout=rounds * 2 * (seconds + 1) + 60)[0]
        writer.join(timeout=10)
    finally:
        launcher.down(directory)
    result: dict[str, Any] = {"seconds_per_phase": seconds, "rounds": rounds}
    for level, values in per_level.items():
        values.sort()

        def pct(q: float, values: list[float] = values) -> float | None:
            if not values:
                return None
            return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)

        result[f"{level}_reads_per_s"] = round(len(values) / (rounds * seconds))
        result[f"{level}_p50_ms"] = pct(0.5)
        result[f"{level}_p99_ms"] = pct(0.99)
        result[f"{level}_failed"] = failed[level]
    result["instances_created_meanwhile"] = created
    result["machine_load_avg"] = round(os.getloadavg()[0], 1)
    return result


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the given processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("failover")
    f.add_argument("--kills", type=int, default=5)
    f.add_argument("--dir", type=Path, default=None)
    t = sub.add_parser("throughput")
    t.add_argument("--clients", type=int, default=4)
    t.add_argument("--concurrency", type=int, default=16)
    t.add_argument("--seconds", type=float, default=10.0)
    t.add_argument("--dir", type=Path, default=None)
    r = sub.add_parser("reads")
    r.add_argument("--seconds", type=float, default=8.0)
    r.add_argument("--rounds", type=int, default=2)
    r.add_argument("--concurrency", type=int, default=8)
    r.add_argument("--write-concurrency", type=int, default=4)
    r.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zennode-measure-") as tmp:
        directory = args.dir or Path(tmp)
        if args.what == "failover":
            result = failover(directory, args.kills)
        elif args.what == "reads":
            result = reads(
                directory, args.seconds, args.rounds, args.concurrency, args.write_concurrency
            )
        else:
            result = throughput(directory, args.clients, args.seconds, args.concurrency)
    for key, value in result.items():
        print(f"  {key:>24}: {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
