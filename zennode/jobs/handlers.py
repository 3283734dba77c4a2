"""Internal job runner: Python functions registered for a job type (or for the element id of
the task, as ZenBPM's `NewTaskHandler().Id(...)`) run jobs on the leader.

Why here and not in the engine: a handler is arbitrary user code (I/O, clocks, randomness),
so it must run outside the deterministic apply. The runner hears `job_created` /
`job_activatable` events from partition leaders (on their tick threads, where nothing may
block), queues the job key in a bounded queue, and a bounded pool of threads reads the job,
calls the function and submits `complete_job` (its returned dict) or `fail_job` (when it
raises) to the same partition.

Guarantees: completion is exactly once (the engine refuses a second completion); the handler
itself runs at least once per activation — after a leader change the new leader runs the
jobs of registered types that are still active, so a job whose completion was lost is run
again. Handlers should be idempotent, as with any job worker. A job in its retry back-off
(`activatableAt` in the future) waits in a small heap until the back-off ends.

Internal jobs are completed straight from `active`, without an `activate_jobs` lock: one
replicated command per job instead of two. The runner is a leader-side driver like the job
manager: it reads and submits on the local leader only (`ClusterClient.read_replica` /
`submit_local`, callable from its threads), never forwarded, so the event loop stays out of
the one-command-per-job path. A job type is meant to be served either by an
internal handler or by external workers; if both exist, whichever completes first wins and
the other gets a clean "wrong state" refusal.

A handler registered for an element id runs the jobs of every task with that id (in any
process), whatever their type; it wins over a handler for the job's type. Tasks without a task
definition (`NO_TASK_DEFINITION_JOB_TYPE` jobs) are usually served this way.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from zennode.cluster.client import ClusterClient
from zennode.engine.commands import CompleteJob, FailJob
from zennode.engine.outcome import Outcome
from zennode.errors import ZennodeError
from zennode.jobs import JobError
from zennode.service import check_variables

log = logging.getLogger("zennode.jobs.handlers")

Handler = Callable[[dict[str, Any]], dict[str, Any] | None]

TRIGGER_EVENTS = frozenset({"job_created", "job_activatable"})
RUNNABLE_STATES = frozenset({"active"})
RECOVERY_PAGE_SIZE = 100  # jobs read per page when a new leader looks for work
_STOP = (0, 0)  # sentinel queue item: (partition 0 never exists)
_DELAYED = "delayed"  # _run_one: the job is in its retry back-off, it will be run later
IDLE_WAKE_S = 0.1  # how often an idle handler thread looks for jobs whose back-off ended


class HandlerRunner:
    """Runs registered handlers for internal jobs; one instance per node."""

    def __init__(
        self, cluster: ClusterClient, threads: int, queue_max: int, variables_bytes_max: int
    ) -> None:
        self._cluster = cluster
        self._variables_bytes_max = variables_bytes_max
        self._threads_max = threads
        self._queue: queue.Queue[tuple[int, int]] = queue.Queue(maxsize=queue_max)
        self._handlers: dict[str, Handler] = {}  # by job type
        self._by_element: dict[str, Handler] = {}  # by the task's element id
        self._lock = threading.Lock()
        # job key -> "run again when done" flag; a key is queued or running at most once.
        self._pending: dict[int, bool] = {}
        self._rescan: set[int] = set()  # partitions whose events overflowed the queue
        # (due monotonic time, partition, job key) of jobs in retry back-off; each key is also
        # in _pending, so this heap is bounded by it.
        self._delayed: list[tuple[float, int, int]] = []
        self._threads: list[threading.Thread] = []
        self._running = False
        self.completed = 0
        self.failed = 0

    # ------------------------------------------------------------- registry

    def register(self, job_type: str | None, fn: Handler, element_id: str | None = None) -> None:
        """Run `fn` for the jobs of `job_type`, or (given `element_id` instead) for the jobs of
        every task with that element id."""
        if (job_type is None) == (element_id is None):
            raise ValueError("give a job type or an element id, not both")
        registry, name, what = (
            (self._handlers, job_type, "job type")
            if job_type is not None
            else (self._by_element, element_id, "element id")
        )
        if not name:
            raise ValueError(f"{what} must not be empty")
        with self._lock:
            if name in registry:
                raise ValueError(f"a handler for {what} {name!r} is already registered")
            registry[name] = fn
        if self._running:  # registered on a running node: pick up what already waits
            for pid in self._cluster.local_partition_ids():
                if self._cluster.leads(pid):
                    self._request_rescan(pid)

    @property
    def job_types(self) -> list[str]:
        return list(self._handlers)

    @property
    def element_ids(self) -> list[str]:
        return list(self._by_element)

    def _handler_for(self, job: dict[str, Any]) -> Handler | None:
        """The element id's handler, else the job type's, else None."""
        return self._by_element.get(job.get("elementId", "")) or self._handlers.get(
            job.get("type", "")
        )

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        for i in range(self._threads_max):
            thread = threading.Thread(target=self._work, name=f"job-handler-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Let running handlers finish (bounded), drop what is queued (it stays active)."""
        if not self._running:
            return
        self._running = False
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                break
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self._threads = []
        with self._lock:
            self._pending.clear()
            self._rescan.clear()
            self._delayed.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "types": self.job_types,
            "elementIds": self.element_ids,
            "queued": self._queue.qsize(),
            "completed": self.completed,
            "failed": self.failed,
        }

    # ------------------------------------------------- listeners (node hooks)

    def on_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        """Called on a leader's tick thread after each batch: must not block."""
        if not (self._handlers or self._by_element) or not self._running:
            return
        for event in events:
            if event.get("event") not in TRIGGER_EVENTS:
                continue
            if event.get("type") in self._handlers or (
                self._by_element and (event.get("job") or {}).get("elementId") in self._by_element
            ):
                key = _job_key(event)
                if key is not None:
                    self._offer(partition_id, key)

    def on_role(self, partition_id: int, is_leader: bool) -> None:
        """A new leader runs the registered jobs that are still waiting (recovery)."""
        if is_leader and (self._handlers or self._by_element) and self._running:
            self._request_rescan(partition_id)

    # --------------------------------------------------------------- queueing

    def _offer(self, partition_id: int, key: int) -> None:
        with self._lock:
            if key in self._pending:
                self._pending[key] = True  # it changed while queued/running: look again after
                return
            self._pending[key] = False
        try:
            self._queue.put_nowait((partition_id, key))
        except queue.Full:
            with self._lock:
                self._pending.pop(key, None)
                first = partition_id not in self._rescan
                self._rescan.add(partition_id)
            if first:  # once per overflow, not once per job
                log.warning("internal job queue full; partition %s will be rescanned", partition_id)

    def _request_rescan(self, partition_id: int) -> None:
        with self._lock:
            self._rescan.add(partition_id)
        # Wake a worker; if the queue is full a worker will see the flag after its job.
        try:
            self._queue.put_nowait((partition_id, 0))
        except queue.Full:
            pass

    def _release_due(self) -> None:
        """Queue the jobs whose retry back-off has ended."""
        now = time.monotonic()
        with self._lock:
            while self._delayed and self._delayed[0][0] <= now:
                _due, partition_id, key = self._delayed[0]
                try:
                    self._queue.put_nowait((partition_id, key))
                except queue.Full:
                    break  # try again on the next wake
                heapq.heappop(self._delayed)

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=IDLE_WAKE_S)
            except queue.Empty:
                self._release_due()
                continue
            if item == _STOP or not self._running:
                return
            self._release_due()
            partition_id, key = item
            if key == 0:
                self._scan_pending()
                continue
            try:
                submitted = self._run_one(partition_id, key)
            except Exception:
                log.exception("internal job %s: runner error", key)
                submitted = None
            if submitted is None:
                self._finish(partition_id, key)
            elif isinstance(submitted, str):  # _DELAYED
                pass  # stays pending; _release_due queues it again
            else:
                # Do not hold a handler thread while Raft commits: finish in the callback.
                future, command_type = submitted
                future.add_done_callback(
                    lambda f, p=partition_id, k=key, t=command_type: self._committed(p, k, t, f)
                )
            if self._rescan and self._queue.empty():
                self._scan_pending()

    def _committed(
        self, partition_id: int, key: int, command_type: str, future: Future[Outcome]
    ) -> None:
        """On the partition's thread once the complete/fail committed (or failed): no blocking."""
        try:
            outcome = future.result(timeout=0)
        except Exception as exc:  # Unavailable (leadership lost), stopping: the leader retries
            log.debug("internal job %s: %s not committed (%s)", key, command_type, exc)
        else:
            if outcome.error is not None:
                log.debug("internal job %s: %s refused: %s", key, command_type, outcome.error)
            else:
                with self._lock:  # callbacks of several partitions run on their own threads
                    if command_type == "complete_job":
                        self.completed += 1
                    else:
                        self.failed += 1
        self._finish(partition_id, key)

    def _finish(self, partition_id: int, key: int) -> None:
        with self._lock:
            again = self._pending.pop(key, False)
        if again and self._running:
            self._offer(partition_id, key)

    def _scan_pending(self) -> None:
        """Queue the active jobs of registered types on every partition marked for rescan."""
        with self._lock:
            partitions, self._rescan = self._rescan, set()
        for partition_id in partitions:
            try:
                self._scan(partition_id)
            except Exception:
                log.exception("partition %s: scanning for internal jobs failed", partition_id)

    def _scan(self, partition_id: int) -> None:
        if not self._cluster.leads(partition_id):
            return
        # Element-id handlers may serve any type: then one pass over every active job.
        job_types: list[str | None] = [None] if self._by_element else list(self.job_types)
        for job_type in job_types:
            offset = 0
            while self._running:
                items, _total = self._cluster.read_replica(
                    partition_id,
                    "list_jobs",
                    state="active",
                    job_type=job_type,
                    offset=offset,
                    limit=RECOVERY_PAGE_SIZE,
                )
                for job in items:
                    if self._handler_for(job) is None:
                        continue
                    if self._queue.full():
                        with self._lock:
                            self._rescan.add(partition_id)
                        return
                    self._offer(partition_id, int(job["key"]))
                if len(items) < RECOVERY_PAGE_SIZE:
                    break
                offset += RECOVERY_PAGE_SIZE

    # ---------------------------------------------------------------- running

    def _run_one(self, partition_id: int, key: int) -> tuple[Future[Outcome], str] | str | None:
        """Run the handler of job `key`: the submitted complete/fail future, `_DELAYED` when
        the job is still in its retry back-off, or None when there is nothing to do."""
        if not self._cluster.leads(partition_id):
            return None  # the new leader picks it up
        try:
            job = self._cluster.read_replica(partition_id, "get_job", key=key)
        except ZennodeError:
            return None  # gone (completed, cancelled) since the event
        if job.get("state") not in RUNNABLE_STATES:
            return None
        handler = self._handler_for(job)
        if handler is None:
            return None
        wait_ms = (job.get("activatableAt") or 0) - time.time() * 1000
        if wait_ms > 0:
            with self._lock:
                due = time.monotonic() + wait_ms / 1000
                heapq.heappush(self._delayed, (due, partition_id, key))
            return _DELAYED
        command = self._call(handler, job)
        try:
            return self._cluster.submit_local(partition_id, command), command.TYPE
        except ZennodeError as exc:
            log.debug("internal job %s: %s not submitted (%s)", key, command.TYPE, exc)
            return None

    def _call(self, handler: Handler, job: dict[str, Any]) -> CompleteJob | FailJob:
        """Run the user's function and turn what happened into a complete/fail command."""
        key = int(job["key"])
        try:
            result = handler(job)
        except JobError as exc:
            return FailJob(job_key=key, error_code=exc.code, message=exc.message)
        except Exception as exc:
            log.debug("internal job %s (%s) raised %s", key, job.get("type"), exc)
            # retries None: the engine takes one off and raises an incident at 0
            return FailJob(job_key=key, message=f"{type(exc).__name__}: {exc}"[:1000])
        if result is None:
            result = {}
        try:
            check_variables(result, self._variables_bytes_max, "handler result")
        except ZennodeError as exc:
            return FailJob(job_key=key, retries=0, message=exc.message)
        return CompleteJob(job_key=key, variables=result)


def _job_key(event: dict[str, Any]) -> int | None:
    key = event.get("jobKey", event.get("key"))
    return int(key) if isinstance(key, int) else None
