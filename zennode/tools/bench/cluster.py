"""`scripts/bench cluster`: a local cluster (`scripts/cluster`'s launcher), SDK workers, load.

Starts N nodes (P partitions, replication R) with `zennode.cluster.launcher.up` in a temp
directory on free ports of 127.0.0.1, then runs the same two phases as `scripts/bench node`
(`zennode.tools.bench.node`): the load generator's connections and the workers are spread over all
nodes, so requests for partitions led elsewhere are forwarded, as a client of a real cluster
would cause. Completed instances and instance durations are summed over every node's
`/metrics` (each partition's events are counted on its leader). The cluster is always stopped
(`launcher.down`, by PID).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from zennode.bench.ports import free_cluster_base
from zennode.tools.bench.node import NodeBench, push_latencies, start_workers, stop_process


def run(
    workers: int = 4,
    seconds: float = 10.0,
    nodes: int = 3,
    partitions: int = 3,
    replication: int = 3,
    clients: int = 32,
    concurrency: int = 16,
    paced_rate: float | None = None,
) -> dict[str, Any]:
    """The whole cluster benchmark; the dict `scripts/bench cluster` prints.

    Any number of workers will do: a worker's subscriptions reach every partition leader
    through the job relay, whichever node it is connected to.
    """
    from zennode.cluster import launcher

    quiet = {"log": {"level": "WARNING", "format": "text"}}
    with tempfile.TemporaryDirectory(prefix="zennode-bench-cluster-") as tmp:
        worker_proc = None
        samples_file = Path(tmp) / "push-samples.json"
        try:
            cluster = launcher.up(
                tmp,
                nodes=nodes,
                partitions=partitions,
                replication=replication,
                base_port=free_cluster_base(nodes, partitions),
                extra=quiet,
            )
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
    return {
        "benchmark": "cluster",
        "nodes": nodes,
        "partitions": partitions,
        "replication": replication,
        "workers": workers,
        "clients": clients,
        "full": full,
        "half": half,
    }
