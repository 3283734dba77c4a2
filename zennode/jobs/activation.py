"""Pull activation: Zeebe's ActivateJobs with long polling (the push side is `manager.py`).

A poll looks for activatable jobs of the type on every partition (a read on each leader, no
Raft round), and only where some exist submits the replicated `activate_jobs` command, which
locks them for the worker. With none it parks until a `job_created` / `job_activatable`
event of that type arrives from a partition this node leads (events of partitions led by
other nodes do not reach it: then it looks again every `RECHECK_REMOTE_S`; otherwise every
`RECHECK_S` as a safety net), or its wait ends: then it returns no jobs and the RPC ends OK,
as in Zeebe.

Jobs activated here are not the job manager's (it only knows the locks it pushed itself and
sweeps the others once per default lock period), so the activator's own `LockExpiry`
(`expiry.py`) submits `timeout_jobs` on the job's partition when one of these locks runs out:
a job whose worker vanished is back within about `EXPIRY_GRACE_MS` of its deadline, as in
Zeebe. The Zeebe gateway (`api/zeebe/gateway.py`) calls `JobActivator.activate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from zennode.cluster.client import ClusterClient
from zennode.engine import keys
from zennode.engine.commands import ActivateJobs, ReleaseJobs
from zennode.errors import Backpressure, ZennodeError
from zennode.jobs.expiry import LockExpiry, now_ms

if TYPE_CHECKING:
    from zennode.service import Service

log = logging.getLogger("zennode.jobs.activation")

RECHECK_S = 1.0  # a parked poll looks again at least this often
RECHECK_REMOTE_S = 0.1  # ... and this often while another node leads some partition
READ_SHARE_S = 0.05  # polls of one type share a look at the partitions this recent
SHARED_READS_MAX = 1_000  # job types whose last look is kept for sharing
CANDIDATES_MAX = 100  # activatable jobs read per partition when looking for work
WAITERS_MAX = 10_000  # parked polls on one node
EXPIRY_GRACE_MS = 50  # after a lock deadline, before asking the partition to expire it
JOB_EVENTS = frozenset({"job_created", "job_activatable"})
BACKOFF_WAKE_MAX_S = 3600.0  # a back-off wake further out is set this far (polls end sooner)


class JobArrivals:
    """Wakes parked polls when a job of their type may have become activatable.

    The node calls `on_events` on a partition's tick thread; it only filters and hops onto the
    loop. The set of awaited types is swapped as a whole, so the tick thread reads it without
    a lock.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._types: frozenset[str] = frozenset()
        self._count = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}  # job type -> wake after a back-off

    def on_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        types = self._types
        if not types:
            return
        woken: dict[str, int] = {}
        for event in events:
            if event.get("event") in JOB_EVENTS and event.get("type") in types:
                job = event.get("job")
                at = event.get("activatableAt")
                if at is None and isinstance(job, dict):
                    at = job.get("activatableAt")
                job_type = str(event["type"])
                woken[job_type] = min(woken.get(job_type, 1 << 62), int(at or 0))
        for job_type, at in woken.items():
            with contextlib.suppress(RuntimeError):  # the loop closed: the gateway is gone
                self._loop.call_soon_threadsafe(self._wake_at, job_type, at)

    def close(self) -> None:
        """The server stopped: ignore events from now on (the node keeps its listeners)."""
        self._waiters.clear()
        self._types = frozenset()
        self._count = 0
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _wake_at(self, job_type: str, at_ms: int) -> None:
        """Wake the type's parked polls now, or when a retry back-off ends (one timer a type)."""
        delay_s = (at_ms - now_ms()) / 1000
        if delay_s <= 0:
            self._wake(job_type)
            return
        if job_type not in self._waiters:
            return
        pending = self._timers.get(job_type)
        when = self._loop.time() + min(delay_s, BACKOFF_WAKE_MAX_S)
        if pending is not None and pending.when() <= when:
            return  # an earlier wake is set; the polls look at every partition then
        if pending is not None:
            pending.cancel()
        self._timers[job_type] = self._loop.call_at(when, self._wake, job_type)

    def _wake(self, job_type: str) -> None:
        self._timers.pop(job_type, None)
        for event in self._waiters.get(job_type, ()):
            event.set()

    def park(self, job_type: str) -> asyncio.Event:
        """An event set when a job of `job_type` arrives; `unpark` it when done."""
        if self._count >= WAITERS_MAX:
            raise Backpressure(f"{self._count} ActivateJobs calls are already waiting here")
        event = asyncio.Event()
        self._waiters.setdefault(job_type, set()).add(event)
        self._count += 1
        self._types = frozenset(self._waiters)
        return event

    def unpark(self, job_type: str, event: asyncio.Event) -> None:
        waiting = self._waiters.get(job_type)
        if waiting is None or event not in waiting:
            return
        waiting.discard(event)
        self._count -= 1
        if not waiting:
            del self._waiters[job_type]
            self._types = frozenset(self._waiters)
            timer = self._timers.pop(job_type, None)
            if timer is not None:
                timer.cancel()


class JobActivator:
    """Finds and locks activatable jobs of a type across the partitions (Zeebe's ActivateJobs)."""

    def __init__(
        self, cluster: ClusterClient, service: Service, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.cluster = cluster
        self.service = service
        self.arrivals = JobArrivals(loop)
        self.expiry = LockExpiry(cluster.submit, grace_ms=EXPIRY_GRACE_MS)
        cluster.add_event_listener(self.arrivals.on_events)
        self._next = 0  # first partition asked, rotated so no partition is always first
        self._releasing: set[asyncio.Task[None]] = set()
        # job type -> (when, the look at the partitions started then)
        self._looks: dict[str, tuple[float, asyncio.Future[set[int]]]] = {}

    async def activate(
        self, job_type: str, worker: str, lock_ms: int, jobs_max: int, wait_s: float
    ) -> list[dict[str, Any]]:
        """Up to `jobs_max` jobs locked for `worker`; waits up to `wait_s` for the first ones."""
        stop_at = time.monotonic() + max(wait_s, 0.0)
        parked = self.arrivals.park(job_type) if wait_s > 0 else None
        try:
            while True:
                if parked is not None:
                    parked.clear()  # an arrival from now on wakes the wait below
                jobs = await self.activate_once(job_type, worker, lock_ms, jobs_max)
                left_s = stop_at - time.monotonic()
                if jobs or parked is None or left_s <= 0:
                    return jobs
                recheck_s = RECHECK_S if self._leads_all() else RECHECK_REMOTE_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(parked.wait(), min(left_s, recheck_s))
        finally:
            if parked is not None:
                self.arrivals.unpark(job_type, parked)

    def release(self, jobs: list[dict[str, Any]], worker: str) -> None:
        """Unlock jobs that were locked but never reached the client (it went away)."""
        by_partition: dict[int, list[int]] = {}
        for job in jobs:
            by_partition.setdefault(keys.partition_of(int(job["key"])), []).append(int(job["key"]))
        for partition_id, job_keys in by_partition.items():
            command = ReleaseJobs(worker=worker, job_keys=job_keys)
            task = asyncio.ensure_future(self._release(partition_id, command))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    def _release_outcome(self, done: asyncio.Future[Any], worker: str) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        outcome = done.result()
        if outcome.error is None and outcome.result:
            self.release(outcome.result.get("jobs", []), worker)

    async def close(self) -> None:
        """The gateway stopped: wake no more polls, expire no more locks."""
        self.arrivals.close()
        await self.expiry.close()

    def watch_lock(self, partition_id: int, deadline_ms: int) -> None:
        """A lock handed out (or extended) outside this activator: expire it on time too."""
        self.expiry.add(partition_id, deadline_ms)

    async def _release(self, partition_id: int, command: ReleaseJobs) -> None:
        try:
            (await self.cluster.submit(partition_id, command)).unwrap()
        except ZennodeError as exc:  # the lock then runs out by itself
            log.debug("partition %s: release_jobs failed: %s", partition_id, exc)

    def _leads_all(self) -> bool:
        return all(self.cluster.leads(pid) for pid in self.cluster.partition_ids)

    async def activate_once(
        self, job_type: str, worker: str, lock_ms: int, jobs_max: int
    ) -> list[dict[str, Any]]:
        partition_ids = self.cluster.partition_ids
        start = self._next % len(partition_ids)
        self._next += 1
        partition_ids = partition_ids[start:] + partition_ids[:start]
        ready = await self._partitions_with_work(job_type, partition_ids)
        jobs: list[dict[str, Any]] = []
        failed: ZennodeError | None = None
        for partition_id in ready:
            command = ActivateJobs(
                job_type=job_type,
                worker=worker,
                timeout_ms=lock_ms,
                max_jobs=jobs_max - len(jobs),
            )
            submitted = asyncio.ensure_future(self.cluster.submit(partition_id, command))
            try:
                outcome = await asyncio.shield(submitted)
                found = outcome.unwrap().get("jobs", [])
            except asyncio.CancelledError:
                # The client went away while the jobs were being locked: give them back.
                submitted.add_done_callback(lambda done: self._release_outcome(done, worker))
                raise
            except ZennodeError as exc:  # no leader, backpressure: the other partitions may do
                failed = exc
                continue
            for job in found:
                self.expiry.add(partition_id, int(job.get("deadline") or 0))
            jobs.extend(found)
            if len(jobs) >= jobs_max:
                break
        if failed is not None and not jobs:
            raise failed
        return jobs

    async def _partitions_with_work(self, job_type: str, partition_ids: list[int]) -> list[int]:
        """Partitions holding a job of the type that may be activated now.

        Partitions led here are read fresh on the local replica: their job events wake parked
        polls, and a read from before the wake could miss the job. Partitions led elsewhere
        are read through the node (forwarded to their leaders); parked polls of one type
        share one such look per `READ_SHARE_S` instead of each reading every partition.
        """
        led_here = {pid for pid in partition_ids if self.cluster.leads(pid)}
        ready: set[int] = set()
        if led_here:
            ready = await asyncio.to_thread(self._ready_here, job_type, led_here)
        if len(led_here) < len(partition_ids):
            try:
                ready |= (await self._shared_look(job_type)) - led_here
            except ZennodeError as exc:
                if not led_here:
                    raise  # nothing to offer: the client sees why (UNAVAILABLE, ...)
                log.debug("looking for %s jobs on other nodes failed: %s", job_type, exc)
        return [pid for pid in partition_ids if pid in ready]

    def _ready_here(self, job_type: str, partition_ids: set[int]) -> set[int]:
        """(In a worker thread.) Local leader replicas with an activatable job of the type."""
        now = now_ms()
        found = set()
        for pid in partition_ids:
            if pid not in self.cluster.local_partition_ids():
                continue
            items, _total = self.cluster.read_replica(
                pid, "list_jobs", state="active", job_type=job_type, limit=CANDIDATES_MAX
            )
            if any(int(item.get("activatableAt") or 0) <= now for item in items):
                found.add(pid)
        return found

    async def _shared_look(self, job_type: str) -> set[int]:
        shared = self._looks.get(job_type)
        if shared is None or time.monotonic() - shared[0] > READ_SHARE_S:
            if len(self._looks) >= SHARED_READS_MAX:
                self._looks.clear()
            shared = (time.monotonic(), asyncio.ensure_future(self._look(job_type)))
            self._looks[job_type] = shared
        return await asyncio.shield(shared[1])

    async def _look(self, job_type: str) -> set[int]:
        page = await self.service.list_jobs(
            page=1, size=CANDIDATES_MAX, state="active", job_type=job_type
        )
        now = now_ms()
        return {
            part["partition"]
            for part in page.get("partitions", [])
            if any(int(item.get("activatableAt") or 0) <= now for item in part.get("items", []))
        }
