"""SDK workers in their own process for `scripts/bench node`.

    python -m zennode.tools.bench.workers --address 127.0.0.1:26501 [--address ...] --workers 4 \
        --out samples.json

Why a process of their own: workers and the load generator in one process share one GIL, and
under full load the workers then fall behind the node, which measures the benchmark, not the
node. This process prints `ready` once every worker is connected, handles jobs until SIGTERM
(or SIGINT), then writes `[[created_at_ms, delivered_at_ms], ...]` to `--out` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from zennode.tools.bench.models import JOB_TYPE

SAMPLES_MAX = 2_000_000  # bounded memory on long runs
CONNECT_TIMEOUT_S = 30.0


async def serve(addresses: list[str], workers_n: int, concurrency: int, out: str) -> None:
    from zennode.worker import Job, Worker

    samples: list[tuple[int, float]] = []
    workers = []
    for i in range(workers_n):
        # Worker i starts at node i: the workers spread over the nodes of a cluster.
        rotated = addresses[i % len(addresses) :] + addresses[: i % len(addresses)]
        worker = Worker(rotated, client_id=f"bench-{i}", max_concurrency=concurrency)

        async def handle(job: Job) -> dict[str, Any]:
            if len(samples) < SAMPLES_MAX:
                samples.append((job["created_at"], time.time() * 1000))
            return {}

        worker.handler(JOB_TYPE)(handle)
        workers.append(worker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.ensure_future(w.run()) for w in workers]
    try:
        for worker in workers:
            await worker.wait_connected(timeout=CONNECT_TIMEOUT_S)
        print("ready", flush=True)
        await stop.wait()
    finally:
        for worker in workers:
            await worker.stop(timeout=5)
        await asyncio.gather(*tasks, return_exceptions=True)
        with open(out, "w") as fh:
            json.dump(samples, fh)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, action="append", help="repeat per node")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.workers, args.concurrency, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
