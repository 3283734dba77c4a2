"""Lock expiry: `timeout_jobs` on a partition once a job lock handed out there has run out.

The engine has no clock, so an activated job whose worker vanished stays locked until someone
submits `timeout_jobs` after its deadline; the engine then frees every lock that is due (an
event), and the job goes out again. Whoever hands out locks remembers their deadlines here:

- each partition's job manager (`manager.py`), for the jobs it pushes, submitting only while
  its replica leads;
- the pull activation (`activation.py`, Zeebe's ActivateJobs), for the jobs it returns.

Deadlines are grouped to `round_ms` so the heap stays small; one task per `LockExpiry` sleeps
until the earliest is due (plus `grace_ms`), then repeats `timeout_jobs` while the partition
says more are due (bounded). Every structure has a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

from zennode.engine.commands import Command, TimeoutJobs
from zennode.engine.outcome import Outcome

log = logging.getLogger("zennode.jobs.expiry")

EXPIRIES_MAX = 10_000  # distinct (partition, due) entries remembered
ROUND_MS = 100  # deadlines are grouped to this granularity
TIMEOUT_ROUNDS_MAX = 100  # `timeout_jobs` repeated while the partition says there are more

Submit = Callable[[int, Command], Awaitable[Outcome]]


def now_ms() -> int:
    return int(time.time() * 1000)


class LockExpiry:
    """Submits `timeout_jobs` on a partition when a lock remembered here runs out."""

    def __init__(
        self,
        submit: Submit,
        grace_ms: int,
        retry_failed: bool = False,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        """`retry_failed`: when submitting fails (no leader, backpressure), try again about a
        round later instead of leaving the lock to the next sweep."""
        self._submit = submit
        self._grace_ms = grace_ms
        self._retry_failed = retry_failed
        self._clock_ms = clock_ms
        self._heap: list[tuple[int, int]] = []  # (due ms, partition id)
        self._known: set[tuple[int, int]] = set()
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._generation = 0  # bumped by clear(): a running expiry of an older one re-adds nothing

    def add(self, partition_id: int, deadline_ms: int) -> None:
        """Expire the partition's due locks once `deadline_ms` (+ grace) has passed."""
        due = -(-(deadline_ms + self._grace_ms) // ROUND_MS) * ROUND_MS
        entry = (due, partition_id)
        if entry in self._known:
            return
        if len(self._heap) >= EXPIRIES_MAX:
            # Full: the job managers' periodic sweep still expires these locks, later.
            log.warning("lock expiry queue full; a lock will expire at the next sweep")
            return
        heapq.heappush(self._heap, entry)
        self._known.add(entry)
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.set()
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def clear(self) -> None:
        """Forget every remembered deadline (a job manager's replica changed role)."""
        self._heap.clear()
        self._known.clear()
        self._generation += 1

    async def close(self) -> None:
        self.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._changed is not None  # set by the add() that started this task
        changed = self._changed
        while True:
            changed.clear()
            if not self._heap:
                await changed.wait()
                continue
            due, partition_id = self._heap[0]
            wait_s = (due - self._clock_ms()) / 1000
            if wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), wait_s)
                continue
            heapq.heappop(self._heap)
            self._known.discard((due, partition_id))
            try:
                await self._expire(partition_id)
            except Exception:  # never let one failure stop every later expiry
                log.exception("partition %s: expiring locks failed", partition_id)

    async def _expire(self, partition_id: int) -> None:
        generation = self._generation
        for _ in range(TIMEOUT_ROUNDS_MAX):
            try:
                outcome = await self._submit(partition_id, TimeoutJobs())
            except Exception as exc:  # no leader, backpressure, stopping
                log.debug("partition %s: timeout_jobs failed: %s", partition_id, exc)
                if self._retry_failed and generation == self._generation:
                    self.add(partition_id, self._clock_ms())
                return
            if outcome.error is not None:
                log.warning("partition %s: timeout_jobs refused: %s", partition_id, outcome.error)
                return
            if not (outcome.result or {}).get("more"):
                return
