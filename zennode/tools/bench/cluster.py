"""`scripts/bench cluster`: a local cluster (`scripts/cluster`'s launcher), SDK workers, load.

Starts N nodes (P partitions, replication R) with `zennode.tools.launcher.up` in a temp
directory on free ports of 127.0.0.1, then runs the same two phases as `scripts/bench node`
(`zennode.tools.bench.node`): the load generator's connections and the workers are spread
over all nodes, as a client of a real cluster would spread them (a node creates instances on
the partitions it leads; completions of jobs relayed to a worker on another node are
forwarded). Completed instances and instance durations are summed over every node's
`/metrics` (each partition's events are counted on its leader). The phases start once every
partition is led by its preferred replica (the leader balancer's placement), and the cluster is
always stopped (`launcher.down`, by PID).

The nodes run with the durable default (`raft.fsync: true`); the Raft log's fsync latency of
every replica is read from `/system/status` at the end. `compare_unsynced` runs the same
benchmark again on a fresh cluster with `raft.fsync: false` and adds its numbers and the ratio
durable / unsynced of completed instances per second at full load.

`engine_per_second` is the pure engine's rate in this process just before the cluster starts
(`zennode.tools.bench.engine.engine_per_second`): the machine's calibration for this result.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from zennode.tools.bench.engine import engine_per_second
from zennode.tools.bench.node import NodeBench, push_latencies, start_workers, stop_process
from zennode.tools.ports import reserve_cluster

BALANCE_TIMEOUT_S = 60.0


def run(
    workers: int = 4,
    seconds: float = 10.0,
    nodes: int = 3,
    partitions: int = 3,
    replication: int = 3,
    clients: int = 32,
    concurrency: int = 16,
    paced_rate: float | None = None,
    compare_unsynced: bool = False,
    raft: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole cluster benchmark; the dict `scripts/bench cluster` prints.

    `raft` adds settings to every node's `raft:` section (e.g. `batch_adapt_max_ms`), so
    one tree can be measured with a setting on and off in interleaved runs.

    Any number of workers will do: a worker's subscriptions reach every partition leader
    through the job relay, whichever node it is connected to.
    """
    calibration = engine_per_second()  # before any node starts: the machine's speed now
    shape = (workers, seconds, nodes, partitions, replication, clients, concurrency, paced_rate)
    raft = dict(raft or {})
    durable = _run_once(*shape, raft={**raft, "fsync": True})
    results: dict[str, Any] = {
        "benchmark": "cluster",
        "nodes": nodes,
        "partitions": partitions,
        "replication": replication,
        "workers": workers,
        "clients": clients,
        "fsync": True,
        "raft": raft,
        "engine_per_second": calibration,
        **durable,
    }
    if compare_unsynced:
        unsynced = _run_once(*shape, raft={**raft, "fsync": False})
        unsynced.pop("fsync_ms", None)
        results["unsynced"] = unsynced
        base = unsynced["full"]["completed_per_second"]
        ratio = durable["full"]["completed_per_second"] / base if base else None
        results["durable_vs_unsynced"] = round(ratio, 3) if ratio is not None else None
    return results


def _fsync_latency(http_urls: list[str]) -> dict[str, Any]:
    """The Raft log fsync latency of every replica (`/system/status`): the median of their
    p50s and the largest p99, and how many fsyncs ran."""
    p50s: list[float] = []
    p99s: list[float] = []
    count = 0
    for url in http_urls:
        with urllib.request.urlopen(f"{url}/system/status", timeout=10) as reply:
            status = json.loads(reply.read())
        for partition in status["partitions"]:
            if partition.get("fsync_p50_ms") is not None:
                p50s.append(partition["fsync_p50_ms"])
                p99s.append(partition["fsync_p99_ms"])
                count += int(partition.get("fsyncs", 0))
    if not p50s:
        return {"fsyncs": count}
    return {"p50_median": statistics.median(p50s), "p99_max": max(p99s), "fsyncs": count}


def _run_once(
    workers: int,
    seconds: float,
    nodes: int,
    partitions: int,
    replication: int,
    clients: int,
    concurrency: int,
    paced_rate: float | None,
    raft: dict[str, Any],
) -> dict[str, Any]:
    from zennode.tools import launcher

    quiet = {"log": {"level": "WARNING", "format": "text"}, "raft": raft}
    with tempfile.TemporaryDirectory(prefix="zennode-bench-cluster-") as tmp:
        worker_proc = None
        samples_file = Path(tmp) / "push-samples.json"
        try:
            cluster = launcher.up(
                tmp,
                nodes=nodes,
                partitions=partitions,
                replication=replication,
                base_port=reserve_cluster(nodes, partitions).base,
                extra=quiet,
            )
            # Leaders where the balancer puts them (spread over the nodes), as in a cluster
            # that has run a while: the first seconds after start would measure its moves.
            launcher.wait_balanced(tmp, BALANCE_TIMEOUT_S)
            http_ports = [int(node["http"].rsplit(":", 1)[1]) for node in cluster["nodes"]]
            grpc = [node["grpc"] for node in cluster["nodes"]]
            worker_proc = start_workers(grpc, workers, concurrency, samples_file)
            pids = [int(node["pid"]) for node in cluster["nodes"]]
            bench = NodeBench(
                http_ports,
                clients,
                seconds,
                paced_rate,
                node_pids=pids,
                client_pids=[worker_proc.pid],
            )
            full_phase, full, half_phase, half = asyncio.run(bench.run())
            fsync_ms = _fsync_latency([node["http"] for node in cluster["nodes"]])
            stop_process(worker_proc)
            samples = json.loads(samples_file.read_text())
        except BaseException:
            for log in sorted(Path(tmp).glob("node*.log")):
                tail = log.read_text(errors="replace")[-1500:]
                sys.stderr.write(f"{log.name} (tail):\n{tail}\n")
            raise
        finally:
            if worker_proc is not None:
                stop_process(worker_proc)
            launcher.down(tmp)
    full.update(push_latencies(samples, full_phase))
    half.update(push_latencies(samples, half_phase))
    return {"full": full, "half": half, "fsync_ms": fsync_ms}
