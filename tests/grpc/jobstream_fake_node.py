"""A node with an in-memory job table, for testing the job stream without Raft or BPMN.

It implements the job commands of the engine contract (`activate_jobs`, `complete_job`,
`fail_job`, `timeout_jobs`, `release_jobs`) and emits the same events, through the same
`ClusterClient` calls the job layer uses (`submit`, `submit_here`, `leads`,
`add_event_listener`, `add_role_listener`, ...). Events are delivered from another thread, as
a partition's tick thread does. The real-node tests in this folder run the same scenarios end
to end.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from zennode.cluster.idempotency import Idempotency
from zennode.config import Limits
from zennode.engine.commands import Command, to_wire
from zennode.engine.keys import make_key
from zennode.engine.outcome import Outcome
from zennode.errors import InvalidState, NotFound
from zennode.jobs.manager import Settings
from zennode.jobs.streams import JobStreams
from zennode.service import Service


class FakePartition:
    def __init__(self, node: FakeNode) -> None:
        self.is_leader = True
        self._node = node

    @contextmanager
    def read(self) -> Any:
        yield self._node


class FakeState:
    """The `StateReader` over the fake node's job table."""

    def __init__(self, node: FakeNode) -> None:
        self.node = node

    def activatable(self, partition_id: int, job_type: str, limit: int) -> list[tuple[int, int]]:
        return [(key, 0) for key in self.node.activatable(job_type)[:limit]]

    def activated(self, partition_id: int, limit: int) -> list[tuple[int, str, int]]:
        return []


def fake_job_streams(node: FakeNode, settings: Settings) -> JobStreams:
    """The job streams of a node, over the fake node instead of a cluster."""
    service = Service(node, Limits())  # type: ignore[arg-type]
    return JobStreams(node, service, settings, state=FakeState(node))  # type: ignore[arg-type]


class FakeNode:
    def __init__(self) -> None:
        self.config = SimpleNamespace(
            partition_ids=range(1, 2), limits=Limits(), members=(), node_id=1
        )
        self.local_partitions = {1: FakePartition(self)}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.jobs: dict[int, dict[str, Any]] = {}
        self.completions: dict[int, int] = {}  # job key -> times completed
        self._counter = 0
        self._lock = threading.Lock()
        self.first_outcomes: dict[str, Outcome] = {}  # Idempotency-Key -> first outcome
        self._event_listeners: list[Any] = []
        self._role_listeners: list[Any] = []
        self._batches: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
        self._ticker: threading.Thread | None = None

    @property
    def partition_ids(self) -> list[int]:
        return [1]

    def local_partition_ids(self) -> list[int]:
        return [1]

    def leads(self, partition_id: int) -> bool:
        return bool(self.local_partitions[partition_id].is_leader)

    def partition_of(self, key: int, what: str) -> int:
        if key <= 0 or key >> 51 != 1:
            raise NotFound(f"{what} {key} not found")
        return 1

    async def submit_here(self, partition_id: int, command: Command) -> Outcome:
        return await self.submit(partition_id, command)

    def offer_book(self, partition_id: int) -> None:
        return None  # activation in a second commit, as with `raft.activate_in_batch: false`

    def add_event_listener(self, fn: Any) -> None:
        self._event_listeners.append(fn)

    def add_role_listener(self, fn: Any) -> None:
        self._role_listeners.append(fn)

    def set_leader(self, is_leader: bool) -> None:
        self.local_partitions[1].is_leader = is_leader
        for fn in self._role_listeners:
            fn(1, is_leader)

    def activatable(self, job_type: str) -> list[int]:
        with self._lock:
            return sorted(
                k for k, j in self.jobs.items() if j["type"] == job_type and j["state"] == "active"
            )

    def create_job(self, job_type: str, variables: dict[str, Any] | None = None) -> int:
        with self._lock:
            self._counter += 1
            key = make_key(1, self._counter)
            job = {
                "key": key,
                "type": job_type,
                "state": "active",
                "variables": variables or {},
                "processInstanceKey": make_key(1, 10_000 + self._counter),
                "elementId": "task",
                "createdAt": int(time.time() * 1000),
                "retries": 3,
                "customHeaders": {"h": "v"},
                "worker": None,
                "deadline": None,
            }
            self.jobs[key] = job
        self._emit([{"event": "job_created", "jobKey": key, "type": job_type, "job": dict(job)}])
        return key

    def _emit(self, events: list[dict[str, Any]]) -> None:
        """Hand `events` to the listeners on the one "tick" thread, in apply order (as a
        partition does: a job's job_activated never arrives after its job_completed)."""
        if not events:
            return
        self._batches.put(events)
        with self._lock:
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()

    def _tick(self) -> None:
        """Deliver queued batches; end after a second with nothing to do (no thread left)."""
        while True:
            try:
                events = self._batches.get(timeout=1.0)
            except queue.Empty:
                with self._lock:
                    if self._batches.empty():
                        self._ticker = None
                        return
                continue
            for fn in self._event_listeners:
                fn(1, events)

    async def submit(
        self, partition_id: int, command: Command, idempotency: Idempotency | None = None
    ) -> Outcome:
        await asyncio.sleep(0.001)  # a commit is never synchronous
        now = int(time.time() * 1000)
        with self._lock:
            if idempotency is not None and idempotency.key in self.first_outcomes:
                return self.first_outcomes[idempotency.key]  # as the partition does
            outcome = self._apply(to_wire(command), now)
            if idempotency is not None:
                self.first_outcomes[idempotency.key] = Outcome(outcome.result, outcome.error)
        # The partition resolves the future first, then hands the batch's events over.
        asyncio.get_running_loop().call_soon(self._emit, outcome.events)
        return outcome

    def _apply(self, command: dict[str, Any], now: int) -> Outcome:
        kind = command["type"]
        events: list[dict[str, Any]] = []

        def free(job: dict[str, Any]) -> None:
            job.update(state="active", worker=None, deadline=None)
            events.append({"event": "job_activatable", "jobKey": job["key"], "type": job["type"]})

        if kind == "activate_jobs":
            activated = []
            for key in command["jobKeys"]:
                job = self.jobs.get(key)
                if job is None or job["state"] != "active" or job["type"] != command["jobType"]:
                    continue
                job.update(
                    state="activated", worker=command["worker"], deadline=now + command["timeoutMs"]
                )
                activated.append(dict(job))
                events.append(
                    {"event": "job_activated", "jobKey": key, "type": job["type"]}
                    | {"worker": command["worker"], "deadline": job["deadline"]}
                )
            return Outcome(result={"jobs": activated}, events=events)
        if kind == "timeout_jobs":
            for job in self.jobs.values():
                if job["state"] == "activated" and job["deadline"] <= now:
                    free(job)
            return Outcome(result={}, events=events)
        if kind == "release_jobs":
            for job in self.jobs.values():
                if job["state"] != "activated":
                    continue
                if job["worker"] == command.get("worker") or job["key"] in command.get(
                    "jobKeys", ()
                ):
                    free(job)
            return Outcome(result={}, events=events)
        key = command["jobKey"]
        job = self.jobs.get(key)
        if job is None:
            return Outcome(error=NotFound(f"job {key} not found"))
        if job["state"] not in ("active", "activated"):
            return Outcome(error=InvalidState(f"job {key} is {job['state']}"))
        if job["state"] == "activated" and job["worker"] != command.get("worker"):
            return Outcome(error=InvalidState(f"job {key} is locked by another worker"))
        if kind == "complete_job":
            job["state"] = "completed"
            self.completions[key] = self.completions.get(key, 0) + 1
            return Outcome(result={}, events=[{"event": "job_completed", "jobKey": key}])
        if kind == "fail_job":
            retries = command.get("retries", job["retries"] - 1)
            job.update(retries=retries, errorCode=command.get("errorCode"))
            if retries > 0:
                free(job)
                return Outcome(result={}, events=[{"event": "job_failed", "jobKey": key}, *events])
            job["state"] = "failed"
            return Outcome(result={}, events=[{"event": "job_failed", "jobKey": key}])
        raise AssertionError(f"unexpected command {kind}")
