"""Steady load for the fault suite: REST clients that create instances on random nodes, and
SDK workers (one per node, each able to fail over to the others) that complete the jobs.

Everything the load learns is recorded for the checks afterwards: which creations were
acknowledged (201 + key) and when, how often each job was delivered, and how many requests
got no acknowledgement (timeouts, 503, a dead node) — those may or may not have happened,
which is allowed; an acknowledged one that is missing later is data loss.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from support.bpmn import bpmn, chain, end, service, start

from zennode.worker import Worker

PROCESS_ID = "fault-flow"
JOB_TYPES = ("fault-a", "fault-b")
REQUEST_TIMEOUT_S = 5.0
CREATE_PAUSE_S = 0.03  # per client thread: a steady, not saturating, load
SAMPLES_KEPT = 5

MODEL = bpmn(
    start()
    + service("a", JOB_TYPES[0], outputs={"steps": "=steps + 1"}, retries="100")
    + service("b", JOB_TYPES[1], outputs={"steps": "=steps + 1"}, retries="100")
    + end()
    + chain("start", "a", "b", "end"),
    PROCESS_ID,
)
# Each completion adds 1 to `steps` through an output mapping: an instance that ends with
# steps != 2 had a job completion applied twice (or lost one).


class Creators:
    """`threads` REST clients creating instances on random live nodes until stopped.

    `variables()` makes each instance's variables (kept in `variables_of` once acknowledged).
    """

    def __init__(
        self,
        urls: dict[int, str],
        threads: int = 2,
        seed: int = 0,
        timeout_s: float = REQUEST_TIMEOUT_S,
        process_id: str = PROCESS_ID,
        variables: Callable[[], dict[str, Any]] = lambda: {"steps": 0},
    ) -> None:
        self.urls = urls
        self.timeout_s = timeout_s
        self.process_id = process_id
        self.variables = variables
        self.variables_of: dict[int, dict[str, Any]] = {}
        self.down: set[int] = set()  # nodes the fault driver has stopped (skipped, mostly)
        self.acked: dict[int, float] = {}  # instance key -> monotonic time of the 201
        self.sent_at: dict[int, float] = {}  # instance key -> when its acknowledged POST was sent
        self.unacked = 0
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []  # the first few refusals' bodies (diagnostics)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(seed + i,), daemon=True, name=f"creator{i}")
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2 * self.timeout_s)

    def ack_times(self) -> list[float]:
        with self._lock:
            return sorted(self.acked.values())

    def recent(self, count: int) -> list[tuple[int, float]]:
        """The last `count` acknowledged (key, acknowledged at), newest first."""
        with self._lock:
            return list(itertools.islice(reversed(self.acked.items()), count))

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=self.timeout_s) as http:
            while not self._stop.is_set():
                live = [n for n in self.urls if n not in self.down] or list(self.urls)
                node = rng.choice(live)
                variables = self.variables()
                body = {"bpmnProcessId": self.process_id, "variables": variables}
                sent = time.monotonic()
                try:
                    response = http.post(f"{self.urls[node]}/v1/process-instances", json=body)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.unacked += 1
                        self.errors[type(exc).__name__] += 1
                    time.sleep(0.1)
                    continue
                with self._lock:
                    if response.status_code == 201:
                        key = int(response.json()["processInstanceKey"])
                        self.acked[key] = time.monotonic()
                        self.sent_at[key] = sent
                        self.variables_of[key] = variables
                    else:
                        self.unacked += 1
                        self.errors[str(response.status_code)] += 1
                        if len(self.samples) < SAMPLES_KEPT:
                            self.samples.append(f"{response.status_code} {response.text[:300]}")
                time.sleep(CREATE_PAUSE_S)


class Workers:
    """One SDK worker per node (its own node first, the others to fail over to), one thread."""

    def __init__(self, grpc_addresses: list[str], job_types: Sequence[str] = JOB_TYPES) -> None:
        self.deliveries: Counter[int] = Counter()  # job key -> times pushed to a handler
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.workers = []
        for i in range(len(grpc_addresses)):
            order = grpc_addresses[i:] + grpc_addresses[:i]
            worker = Worker(
                order,
                client_id=f"fault-worker-{i}",
                max_concurrency=8,
                reconnect_max_s=1.0,
                lock_duration_ms=5_000,  # a job held by a dead stream comes back soon
            )
            for job_type in job_types:
                worker.handler(job_type)(self._handle)
            self.workers.append(worker)
        self._runs: list[Any] = []

    def _handle(self, job: Any) -> dict[str, Any]:
        with self._lock:
            self.deliveries[int(job["key"])] += 1
        return {}

    def start(self) -> None:
        self._thread.start()
        for worker in self.workers:
            self._runs.append(asyncio.run_coroutine_threadsafe(worker.run(), self._loop))

    def stop(self) -> None:
        for worker in self.workers:
            asyncio.run_coroutine_threadsafe(worker.stop(timeout=5), self._loop).result(15)
        for run in self._runs:
            try:
                run.result(timeout=10)
            except Exception:  # noqa: BLE001 - a worker that ended with an error is stopped too
                run.cancel()
        asyncio.run_coroutine_threadsafe(_cancel_pending(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


async def _cancel_pending() -> None:
    """Cancel what gRPC left on the loop (request iterators of closed calls) and wait for it."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
