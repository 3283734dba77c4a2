"""`scripts/bench soak`: a local cluster under constant load for N minutes, with retention on.

Why: an engine that runs for months must hold what is live plus a bounded history; a short
benchmark cannot show that disk, memory and throughput stay flat. This one starts a local
cluster (`zennode.tools.launcher`, 3 nodes by default) with a short `retention.history_ttl`,
a short Idempotency-Key window and a small log compaction size, SDK workers in their own
process, and `clients` closed-loop REST clients creating one-task
instances as fast as they are answered, for `minutes`. Every `sample_s` (60 s) it prints one
JSON line: instances completed per second in that interval (summed over every node's
`/metrics`) and, per node, the LMDB file, Raft log and snapshot bytes of its replicas
(`/system/status`) and the process's RSS (`/proc/<pid>/status`), whole and split into
anonymous, file-backed (LMDB's mmap) and shared memory. At the end one summary line:
`first_5min_per_s`, `last_5min_per_s`, `disk_growth_last_5min_bytes` (all nodes),
`rss_growth_last_5min_bytes` and its anonymous/file/shmem parts, and per node the anonymous
and file-backed RSS of the first sample against the last. The cluster is always stopped
(`launcher.down`, by PID).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from zennode.tools.bench.models import one_task_model
from zennode.tools.bench.node import PROCESS_ID, NodeBench, Phase, start_workers, stop_process
from zennode.tools.ports import reserve_cluster

WINDOW_MINUTES = 5  # the summary compares the first and the last five minutes
SIZE_KEYS = ("lmdb_file_bytes", "journal_bytes", "snapshot_bytes")


# /proc/<pid>/status fields -> sample keys. RSS splits into anonymous memory (the Python heap,
# the in-memory Raft log: what a leak grows), file-backed pages (LMDB is an mmap: the pages a
# node touched count in RSS, and the kernel takes them back under pressure; not a leak) and
# shared memory.
RSS_FIELDS = {
    "VmRSS": "rss_bytes",
    "RssAnon": "rss_anon_bytes",
    "RssFile": "rss_file_bytes",
    "RssShmem": "rss_shmem_bytes",
}
RSS_KEYS = tuple(RSS_FIELDS.values())
_SPLIT_KEYS = ("rss_anon_bytes", "rss_file_bytes")  # the per-node first-vs-last summary


def rss(pid: int) -> dict[str, int]:
    """Resident memory of a process, whole and split (all 0 when it is gone)."""
    sizes = dict.fromkeys(RSS_KEYS, 0)
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            field, _, value = line.partition(":")
            if field in RSS_FIELDS:
                sizes[RSS_FIELDS[field]] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return sizes


async def _node_sizes(http: httpx.AsyncClient, url: str, pid: int) -> dict[str, int]:
    status = (await http.get(f"{url}/system/status")).json()
    sizes = {key: 0 for key in SIZE_KEYS}
    for partition in status["partitions"]:
        for key in SIZE_KEYS:
            sizes[key] += int(partition.get(key) or 0)
    return {**sizes, **rss(pid)}


def summary(samples: list[dict[str, Any]], sample_s: float) -> dict[str, Any]:
    """The last line: throughput of the first and last five minutes, disk and RSS growth over
    the last five minutes (shorter runs: the first and last halves' worth of samples)."""
    per_window = max(1, round(WINDOW_MINUTES * 60 / sample_s))
    per_window = min(per_window, max(1, len(samples) // 2))
    first, last = samples[:per_window], samples[-per_window:]

    def rate(window: list[dict[str, Any]]) -> float:
        seconds = sum(s["seconds"] for s in window)
        return round(sum(s["completed"] for s in window) / seconds, 1) if seconds else 0.0

    def total(sample: dict[str, Any], keys: tuple[str, ...]) -> int:
        return sum(node[key] for node in sample["nodes"] for key in keys)

    base = samples[-per_window - 1] if len(samples) > per_window else samples[0]
    end = samples[-1]
    first_rate, last_rate = rate(first), rate(last)
    return {
        "summary": True,
        "samples": len(samples),
        "window_samples": per_window,
        "first_5min_per_s": first_rate,
        "last_5min_per_s": last_rate,
        "last_vs_first": round(last_rate / first_rate, 3) if first_rate else None,
        "disk_growth_last_5min_bytes": total(end, SIZE_KEYS) - total(base, SIZE_KEYS),
        **{
            f"{key[:-6]}_growth_last_5min_bytes": total(end, (key,)) - total(base, (key,))
            for key in RSS_KEYS
        },
        "disk_bytes_end": total(end, SIZE_KEYS),
        **{f"{key}_end": total(end, (key,)) for key in RSS_KEYS},
        # per node, first sample against the last: what each node's memory did over the run
        "rss_per_node": [
            {
                "node": node.get("node"),
                **{f"{key[:-6]}_first": first_node.get(key, 0) for key in _SPLIT_KEYS},
                **{f"{key[:-6]}_last": node.get(key, 0) for key in _SPLIT_KEYS},
            }
            for first_node, node in zip(samples[0]["nodes"], end["nodes"], strict=True)
        ],
    }


async def _sample_loop(
    bench: NodeBench,
    http: httpx.AsyncClient,
    nodes: list[dict[str, Any]],
    minutes: float,
    sample_s: float,
    emit: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    end = started + minutes * 60
    last_at = started
    last_done = (await bench.scrape(http)).total(
        "zennode_process_instances_total", action="completed"
    )
    while time.monotonic() < end - 1e-3:
        await asyncio.sleep(max(0.0, min(last_at + sample_s, end) - time.monotonic()))
        now = time.monotonic()
        done = (await bench.scrape(http)).total(
            "zennode_process_instances_total", action="completed"
        )
        node_sizes = [
            {"node": n["id"], **await _node_sizes(http, n["http"], int(n["pid"]))} for n in nodes
        ]
        sample = {
            "minute": round((now - started) / 60, 2),
            "seconds": round(now - last_at, 2),
            "completed": int(done - last_done),
            "completed_per_s": round((done - last_done) / (now - last_at), 1),
            "created_total": bench.phase.created,
            "rejected_503_total": bench.phase.rejected,
            "nodes": node_sizes,
        }
        samples.append(sample)
        emit(sample)
        last_at, last_done = now, done
    return samples


async def _soak(
    bench: NodeBench,
    nodes: list[dict[str, Any]],
    minutes: float,
    sample_s: float,
    emit: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as http:
        deployed = await http.post(
            f"{nodes[0]['http']}/v1/process-definitions", content=one_task_model(PROCESS_ID)
        )
        deployed.raise_for_status()
        bench.phase = Phase()
        deadline = time.monotonic() + minutes * 60
        load = [asyncio.ensure_future(bench.client_loop(i, deadline)) for i in range(bench.clients)]
        try:
            return await _sample_loop(bench, http, nodes, minutes, sample_s, emit)
        finally:
            await asyncio.gather(*load, return_exceptions=True)


def run(
    minutes: float = 30.0,
    nodes: int = 3,
    partitions: int = 3,
    replication: int = 3,
    workers: int = 4,
    clients: int = 16,
    concurrency: int = 16,
    history_ttl: str = "1m",
    compaction_bytes: int = 4 * 1024 * 1024,
    idempotency_window_s: int = 120,
    sample_s: float = 60.0,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The soak; `emit` gets every sample (default: one JSON line on stdout); returns the
    summary line's dict."""
    from zennode.tools import launcher

    def print_line(line: dict[str, Any]) -> None:
        print(json.dumps(line), flush=True)

    emit = emit or print_line
    extra = {
        "log": {"level": "WARNING", "format": "text"},
        "raft": {"compaction_bytes": compaction_bytes},
        "retention": {"history_ttl": history_ttl, "purge_interval_ms": 1000},
        # The SDK gives every job result an Idempotency-Key; with the default 24 h window they
        # are bounded only by their count (100,000 per partition), which a short soak never
        # reaches: a window that ends within the run shows the plateau (docs/benchmarks.md).
        "limits": {"idempotency_window_s": idempotency_window_s},
    }
    with tempfile.TemporaryDirectory(prefix="zennode-bench-soak-") as tmp:
        worker_proc = None
        try:
            cluster = launcher.up(
                tmp,
                nodes=nodes,
                partitions=partitions,
                replication=replication,
                base_port=reserve_cluster(nodes, partitions).base,
                extra=extra,
            )
            http_ports = [int(node["http"].rsplit(":", 1)[1]) for node in cluster["nodes"]]
            grpc = [node["grpc"] for node in cluster["nodes"]]
            worker_proc = start_workers(grpc, workers, concurrency, Path(tmp) / "push.json")
            bench = NodeBench(http_ports, clients, minutes * 60)
            samples = asyncio.run(_soak(bench, cluster["nodes"], minutes, sample_s, emit))
        except BaseException:
            for log in sorted(Path(tmp).glob("node*.log")):
                tail = log.read_text(errors="replace")[-1500:]
                sys.stderr.write(f"{log.name} (tail):\n{tail}\n")
            raise
        finally:
            if worker_proc is not None:
                stop_process(worker_proc)
            launcher.down(tmp)
    result = {
        "benchmark": "soak",
        "minutes": minutes,
        "nodes": nodes,
        "partitions": partitions,
        "replication": replication,
        "clients": clients,
        "history_ttl": history_ttl,
        "compaction_bytes": compaction_bytes,
        "idempotency_window_s": idempotency_window_s,
        **summary(samples, sample_s),
    }
    emit(result)
    return result
