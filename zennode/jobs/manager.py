"""Job manager, server side: one per partition replica, active while that replica leads.

It hands the partition's activatable jobs to the external workers subscribed to their type,
round robin over the workers that have room (a per-worker limit of jobs in flight), those
connected to this node first (`choice.py`: no job relay hop, no forwarded completion). Handing a
job out is the replicated command `activate_jobs` with explicit `jobKeys` and a lock deadline,
so no job goes to two workers inside its lock, even across a leader change; the manager only
chooses *which* worker gets *which* job and pushes the activated job at once.

What it learns and from where:
- `job_created` / `job_activatable` events (after each applied batch) put a job in the queue of
  its type: a new job is pushed without any polling delay.
- On the first subscription to a type, and on becoming leader, it reads the activatable jobs of
  that type from the partition's state, so jobs that waited before a worker came are delivered.
- `job_completed` / `job_failed` / ... events free the worker's slot.
- Its `LockExpiry` (`expiry.py`) submits `timeout_jobs` when a lock it handed out may have
  expired; the engine makes such jobs activatable again (an event), and they are handed out
  anew.
- When a worker's stream ends, `release_jobs {worker}` frees its jobs at once. A replica that
  is not leading then remembers the worker for a while and frees its jobs when it becomes
  leader (the leader may have died before its release committed).
- On becoming leader it also reads the jobs activated in state (by an earlier leader): their
  lock deadlines, so those locks expire on time, not only at the next sweep, and their
  workers, so each worker's in-flight count (its limit) includes them. That read is of its
  own replica, which may not have applied the old leader's last activations yet (a new leader
  learns the commit index with its first commit): their `job_activated` events, applied while
  it leads, add them (`_hold_activated`).

With push offers (`raft.activate_in_batch`, `zennode/jobs/offers.py`) a job created while a
worker of its type waits is activated by the batch that creates it: the manager reserves room
of waiting workers as offers the batches carry, and pushes the job when its batch is settled
(`on_offers_settled`); jobs created without an offer take the way above.

In a cluster every replica of every partition knows every worker (`zennode.jobs.job_relay` relays
the subscriptions of workers connected to other nodes); only the leader's manager acts.

Everything here runs on the node's asyncio loop (callers hop from the Raft tick thread with
`call_soon_threadsafe`), so the manager needs no locks. Every queue has a bound (`Settings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from zennode.cluster.offer_book import OfferBook
from zennode.engine.commands import ActivateJobs, Command, ReleaseJobs
from zennode.engine.offers import Offer
from zennode.engine.outcome import Outcome
from zennode.jobs.choice import RoundRobin, next_worker
from zennode.jobs.expiry import LockExpiry
from zennode.jobs.offers import Offering

log = logging.getLogger("zennode.jobs.manager")

# Events that make a job activatable (put it in a type queue) or end its activation.
ACTIVATABLE_EVENTS = frozenset({"job_created", "job_activatable"})
FINISHED_EVENTS = frozenset({"job_completed", "job_failed", "job_terminated", "job_canceled"})
# A job locked to a worker in the log. A new leader counts it against that worker's limit: it
# may be an earlier leader's activation that this replica applies only after it read the state.
ACTIVATED_EVENT = "job_activated"
JOB_EVENTS = ACTIVATABLE_EVENTS | FINISHED_EVENTS | {ACTIVATED_EVENT}


@dataclass(frozen=True, slots=True)
class Settings:
    """Bounds and defaults of the job stream (server and client side)."""

    lock_ms_default: int = 30_000  # lock of an activated job when the worker names none
    lock_ms_max: int = 24 * 3600 * 1000  # a worker cannot lock a job for longer
    worker_jobs_default: int = 32  # jobs in flight per worker by default (split over partitions)
    worker_jobs_max: int = 1_000  # a worker cannot ask for more in flight
    pending_per_type_max: int = 5_000  # activatable jobs kept in memory per type
    load_page_max: int = 1_000  # jobs read from state in one load
    tick_ms: int = 100  # how often expired locks and ended back-offs are looked for
    delayed_max: int = 10_000  # jobs in retry back-off waited for in memory
    timeout_grace_ms: int = 20  # wait past a deadline before asking the engine to expire it
    retry_delay_ms: int = 200  # back-off after a failed activation (no leader, backpressure)
    stream_queue_max: int = 4_096  # responses waiting to be written to one worker stream
    stream_requests_max: int = 256  # requests of one stream being processed at once
    variables_bytes_max: int = 32 * 1024  # JSON variables of one complete/fail request
    message_bytes_max: int = 4 * 1024 * 1024  # one gRPC message, either way
    worker_streams_max: int = 10_000  # open worker streams on one node
    removed_workers_max: int = 1_000  # ended workers a follower remembers (freed when it leads)
    removed_release_max: int = 100  # of those, freed on becoming leader (most recent first)
    offers_per_type_max: int = 16  # push offers (slots of waiting workers) reserved per type

    def lock_ms(self, requested: int) -> int:
        if requested <= 0:
            return self.lock_ms_default
        return min(requested, self.lock_ms_max)

    def worker_jobs(self, requested: int) -> int:
        if requested <= 0:
            return self.worker_jobs_default
        return min(requested, self.worker_jobs_max)


class WorkerSink(Protocol):
    """Where a manager pushes the jobs it activated for one worker stream."""

    worker_id: str

    def deliver(self, job: dict[str, Any]) -> bool:
        """Queue `job` for the worker; False when the stream is gone or full."""
        ...


Submit = Callable[[Command], Awaitable[Outcome]]
# load(job_type, limit) -> [(job key, activatable-at ms), ...], oldest first
LoadActivatable = Callable[[str, int], Awaitable[list[tuple[int, int]]]]
# load_activated(limit) -> [(job key, worker id, lock deadline ms), ...] activated in state
LoadActivated = Callable[[int], Awaitable[list[tuple[int, str, int]]]]


def partition_share(jobs_max: int, partition_id: int, partition_ids: list[int]) -> int:
    """The part of a worker's in-flight limit one partition's manager may fill.

    The limit is per worker over the whole cluster: it is split over the partitions (the
    remainder to the lowest ids), so the managers together never hand a worker more than
    `jobs_max` jobs. Each partition gets at least 1, so a worker with a limit below the number
    of partitions may hold up to one job per partition.
    """
    ids = sorted(partition_ids)
    if partition_id not in ids or len(ids) <= 1:
        return max(1, jobs_max)
    base, extra = divmod(jobs_max, len(ids))
    return max(1, base + (1 if ids.index(partition_id) < extra else 0))


@dataclass(slots=True)
class _Worker:
    sink: WorkerSink
    jobs_max: int
    types: dict[str, int] = field(default_factory=dict)  # job type -> lock ms
    in_flight: set[int] = field(default_factory=set)  # reserved or activated job keys
    local: bool = True  # connected to this node (False: through the job relay)

    def room(self, offered: int) -> int:
        """Free room in its limit; `offered`: its slots reserved as push offers and not yet
        settled (`Offering.reserved_for`, kept by worker id there, not here: a worker that
        reconnects with the same id is a new object, but those slots still become its jobs)."""
        return self.jobs_max - len(self.in_flight) - offered


@dataclass(slots=True)
class _TypeQueue:
    workers: list[str] = field(default_factory=list)  # round-robin order
    cursor: RoundRobin = field(default_factory=RoundRobin)  # local first (`choice.py`)
    pending: OrderedDict[int, None] = field(default_factory=OrderedDict)  # oldest first
    overflow: bool = False  # jobs exist in state that are not in `pending`
    loading: bool = False
    load_again: bool = False


def job_key_of(event: dict[str, Any]) -> int | None:
    """The job key an engine event names (top level, or inside its `job` dict)."""
    for name in ("jobKey", "key"):
        value = event.get(name)
        if isinstance(value, int):
            return value
    job = event.get("job")
    if isinstance(job, dict) and isinstance(job.get("key"), int):
        return int(job["key"])
    return None


def activatable_at_of(event: dict[str, Any]) -> int:
    """When the job may be activated (after a retry back-off); 0 = now."""
    value = event.get("activatableAt")
    if not isinstance(value, int):
        job = event.get("job")
        value = job.get("activatableAt") if isinstance(job, dict) else None
    return value if isinstance(value, int) else 0


def job_type_of(event: dict[str, Any]) -> str | None:
    value = event.get("jobType", event.get("type"))
    if isinstance(value, str):
        return value
    job = event.get("job")
    if isinstance(job, dict) and isinstance(job.get("type"), str):
        return str(job["type"])
    return None


class JobManager:
    """Server side of the job stream for one partition (see the module docstring)."""

    def __init__(
        self,
        partition_id: int,
        submit: Submit,
        load_activatable: LoadActivatable,
        settings: Settings | None = None,
        clock_ms: Callable[[], int] | None = None,
        load_activated: LoadActivated | None = None,
        offer_book: OfferBook | None = None,
    ) -> None:
        self.partition_id = partition_id
        self.settings = settings or Settings()
        # Push offers (`raft.activate_in_batch`): None activates every job in its own commit.
        self._offering = (
            Offering(offer_book, self.settings.offers_per_type_max)
            if offer_book is not None
            else None
        )
        self._submit = submit
        self._load_activatable = load_activatable
        self._load_activated = load_activated
        # Job keys that changed while activated jobs were being read (None: no read running).
        self._changed_during_load: set[int] | None = None
        self._ready = True  # False while a new leader reads the jobs activated before it
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._workers: dict[str, _Worker] = {}
        self._types: dict[str, _TypeQueue] = {}
        self._holder: dict[int, str] = {}  # job key -> worker id holding it
        # Lock deadlines we handed out (or an earlier leader did): expired while we lead.
        self._expiry = LockExpiry(
            lambda _pid, command: self._submit(command),
            grace_ms=self.settings.timeout_grace_ms,
            retry_failed=True,
            clock_ms=self._clock_ms,
        )
        self._delayed: list[tuple[int, int, str]] = []  # heap of (activatable-at, key, type)
        self._leader = False
        self._epoch = 0  # bumped on every role change; stale async results are ignored
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._next_sweep_ms = 0  # when to expire locks we did not hand out (older terms)
        self._closed = False
        # Workers whose stream ended while this replica did not lead: worker id -> when (ms).
        self._removed: OrderedDict[str, int] = OrderedDict()
        # pushed_remote: of `pushed`, those to a worker on another node (via the job relay)
        self.stats = {
            "activated": 0,
            "pushed": 0,
            "pushed_remote": 0,
            "push_failed": 0,
            "released": 0,
        }

    # ------------------------------------------------------------ lifecycle

    def start(self, is_leader: bool) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.create_task(self._tick_loop(), name=f"job-manager-{self.partition_id}")
        if self._offering is not None:
            # Settled on the tick or batcher thread; queued before the batch's events.
            self._offering.book.listen(
                lambda used, unused, lost: loop.call_soon_threadsafe(
                    self.on_offers_settled, used, unused, lost
                )
            )
        self.on_role(is_leader)

    async def stop(self) -> None:
        self._closed = True
        self._leader = False
        if self._offering is not None:
            self._offering.book.listen(None)
            self._offering.clear()
        tasks = [*self._tasks, *([self._timer] if self._timer else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        await self._expiry.close()

    @property
    def is_leader(self) -> bool:
        return self._leader

    def on_role(self, is_leader: bool) -> None:
        """Leadership changed: drop what the old term knew; as new leader, load from state."""
        if is_leader == self._leader or self._closed:
            return
        self._leader = is_leader
        self._epoch += 1
        self._holder.clear()
        self._expiry.clear()
        self._delayed.clear()
        if self._offering is not None:
            self._offering.clear()
        for worker in self._workers.values():
            worker.in_flight.clear()
        for queue in self._types.values():
            queue.pending.clear()
            queue.overflow = False
        if is_leader:
            # Locks handed out by an earlier leader are unknown here: a sweep every default
            # lock period lets the engine expire them (one cheap command per period).
            self._next_sweep_ms = self._clock_ms() + self.settings.lock_ms_default
            if self._load_activated is not None:
                # First learn who holds what, then hand out anything: otherwise a worker's
                # jobs from the earlier leader would not count against its limit.
                self._ready = False
                self._spawn(self._become_ready())
            else:
                self._load_all_types()
            self._release_removed()

    def _load_all_types(self) -> None:
        for job_type in self._types:
            self._schedule_load(job_type)

    async def _become_ready(self) -> None:
        epoch = self._epoch
        try:
            await self._load_activated_jobs()
        finally:
            if epoch == self._epoch and self._leader:
                self._ready = True
                self._load_all_types()

    def _release_removed(self) -> None:
        """Free the jobs of workers that ended while another replica led (it may have died
        before its own release committed). Bounded: the most recent few, within a lock period."""
        horizon = self._clock_ms() - self.settings.lock_ms_default
        recent = [w for w, at in reversed(self._removed.items()) if at >= horizon]
        self._removed.clear()
        for worker_id in recent[: self.settings.removed_release_max]:
            self._spawn(self._release(ReleaseJobs(worker=worker_id)))

    async def _load_activated_jobs(self) -> None:
        """Learn the locks an earlier leader handed out: their deadlines (so they expire on
        time) and their workers (so the in-flight limits count them)."""
        epoch = self._epoch
        assert self._load_activated is not None
        self._changed_during_load = set()
        try:
            try:
                activated = await self._load_activated(self.settings.load_page_max)
            except Exception as exc:  # the sweep still catches them
                log.warning(
                    "partition %s: reading activated jobs failed: %s", self.partition_id, exc
                )
                return
            changed = self._changed_during_load
            if epoch != self._epoch or changed is None:
                return
            for key, worker_id, deadline in activated:
                self._add_deadline(deadline)
                if key in changed or key in self._holder:
                    continue  # finished or re-handed meanwhile: the read is stale for it
                self._hold(key, worker_id)
        finally:
            if epoch == self._epoch:
                self._changed_during_load = None

    # -------------------------------------------------------- subscriptions

    def subscribe(
        self, sink: WorkerSink, job_type: str, lock_ms: int, jobs_max: int, local: bool = True
    ) -> None:
        """Add (or update) a worker's subscription to `job_type`; deliver waiting jobs.

        `local`: the worker is connected to this node. Local workers with room get jobs
        before remote ones (`choice.next_worker`): no relay hop, no forwarded completion.
        """
        self._removed.pop(sink.worker_id, None)  # back (a relay reconnected): do not free it
        worker = self._workers.get(sink.worker_id)
        if worker is None:
            worker = self._workers[sink.worker_id] = _Worker(sink=sink, jobs_max=jobs_max)
            # Jobs it already holds (activated by an earlier leader) count against its limit.
            worker.in_flight.update(k for k, w in self._holder.items() if w == sink.worker_id)
        worker.sink = sink
        worker.local = local
        worker.jobs_max = max(worker.jobs_max, jobs_max)
        worker.types[job_type] = lock_ms
        queue = self._types.get(job_type)
        first = queue is None
        if queue is None:
            queue = self._types[job_type] = _TypeQueue()
        if sink.worker_id not in queue.workers:
            queue.workers.append(sink.worker_id)
            # Offers posted before it came went to the others only: post them anew, round
            # robin over every worker of the type.
            self._withdraw_offers(lambda o: o.job_type == job_type)
        if first and self._leader:
            self._schedule_load(job_type)
        self._dispatch(job_type)

    def unsubscribe(self, worker_id: str, job_type: str) -> None:
        """Stop handing `job_type` to the worker; jobs it holds stay with it."""
        worker = self._workers.get(worker_id)
        if worker is None or job_type not in worker.types:
            return
        del worker.types[job_type]
        self._withdraw_offers(lambda o: o.worker == worker_id and o.job_type == job_type)
        self._drop_from_queue(worker_id, job_type)

    def remove_worker(self, worker_id: str) -> None:
        """The worker's stream ended: forget it and free its jobs in state at once."""
        # Before the release below is submitted: an offer out in a batch is then in an earlier
        # batch than the release, which frees its job too.
        self._withdraw_offers(lambda o: o.worker == worker_id)
        worker = self._workers.pop(worker_id, None)
        if worker is None:
            return
        for job_type in list(worker.types):
            self._drop_from_queue(worker_id, job_type)
        for key in worker.in_flight:
            if self._holder.get(key) == worker_id:
                del self._holder[key]
        worker.in_flight.clear()
        if self._leader:
            # Also frees jobs an earlier leader activated for this worker.
            self._spawn(self._release(ReleaseJobs(worker=worker_id)))
        else:
            self._removed[worker_id] = self._clock_ms()
            while len(self._removed) > self.settings.removed_workers_max:
                self._removed.popitem(last=False)

    def _drop_from_queue(self, worker_id: str, job_type: str) -> None:
        queue = self._types.get(job_type)
        if queue is None or worker_id not in queue.workers:
            return
        queue.workers.remove(worker_id)
        if not queue.workers:
            del self._types[job_type]  # nobody wants this type: stop tracking its jobs
        else:
            queue.cursor.clamp(len(queue.workers))
            self._dispatch(job_type)  # the last local worker left: remote ones get offers

    # --------------------------------------------------------------- events

    def on_events(self, events: list[dict[str, Any]]) -> None:
        """Engine events of one applied batch (on the loop, in apply order)."""
        if not self._leader:
            return
        touched: set[str] = set()
        changed = self._changed_during_load
        for event in events:
            name = event.get("event")
            if changed is not None and len(changed) < self.settings.pending_per_type_max:
                key = job_key_of(event)
                if key is not None:
                    changed.add(key)
            if name in ACTIVATABLE_EVENTS:
                key = job_key_of(event)
                job_type = job_type_of(event)
                if key is None or job_type is None:
                    continue
                self._unhold(key, touched)
                queue = self._types.get(job_type)
                if queue is not None:
                    self._enqueue(queue, key, job_type, activatable_at_of(event))
                    touched.add(job_type)
            elif name in FINISHED_EVENTS:
                key = job_key_of(event)
                if key is not None:
                    self._unhold(key, touched)
            elif name == ACTIVATED_EVENT:
                key, worker_id = job_key_of(event), event.get("worker")
                if key is not None and isinstance(worker_id, str):
                    self._hold_activated(key, worker_id, event, touched)
        for job_type in touched:
            self._dispatch(job_type)

    def _enqueue(self, queue: _TypeQueue, key: int, job_type: str, at_ms: int = 0) -> None:
        if key in queue.pending or key in self._holder:
            return
        if at_ms > self._clock_ms():
            # In retry back-off: the engine would skip it now; queue it when the wait ends.
            if len(self._delayed) >= self.settings.delayed_max:
                queue.overflow = True
            else:
                heapq.heappush(self._delayed, (at_ms, key, job_type))
            return
        if len(queue.pending) >= self.settings.pending_per_type_max:
            queue.overflow = True  # read it from state once the queue drains
            return
        queue.pending[key] = None

    def _hold_activated(
        self, key: int, worker_id: str, event: dict[str, Any], touched: set[str]
    ) -> None:
        """A `job_activated` event: the log locked `key` to `worker_id`; count it as theirs.

        Our own activations are held already. Others are an earlier leader's, committed in its
        term but applied here after this leader read the activated jobs from its replica (a
        new leader learns the commit index only with its first commit), or a pull activation
        (`activation.py` expires those itself).
        """
        job_type = job_type_of(event)
        queue = self._types.get(job_type) if job_type is not None else None
        if queue is not None:
            queue.pending.pop(key, None)  # not activatable any more
        if self._holder.get(key) == worker_id:
            return
        self._unhold(key, touched)  # reserved here for another worker: the log decided
        if self._hold(key, worker_id):
            deadline = event.get("deadline")
            if isinstance(deadline, int):
                self._add_deadline(deadline)  # an earlier leader's lock: expire it on time

    def _hold(self, key: int, worker_id: str) -> bool:
        """Count `key` as `worker_id`'s job in flight (undone by `_unhold`); whether that
        worker is subscribed here."""
        self._holder[key] = worker_id
        worker = self._workers.get(worker_id)
        if worker is None:
            return False
        worker.in_flight.add(key)
        return True

    def _unhold(self, key: int, touched: set[str]) -> None:
        worker_id = self._holder.pop(key, None)
        if worker_id is None:
            return
        worker = self._workers.get(worker_id)
        if worker is not None:
            worker.in_flight.discard(key)
            touched.update(worker.types)

    # ------------------------------------------------------------- dispatch

    def _dispatch(self, job_type: str) -> None:
        """Give pending jobs of `job_type` round robin to workers with room, then activate."""
        queue = self._types.get(job_type)
        if not self._leader or not self._ready or queue is None or not queue.workers:
            return
        if queue.pending and self._offering is not None:
            # Jobs wait: the room their workers' posted offers hold (of any type: a worker's
            # offers for one type may fill its whole limit) is theirs now.
            waiting_for = set(queue.workers)
            self._withdraw_offers(lambda o: o.worker in waiting_for)
        batches: dict[str, list[int]] = {}
        while queue.pending:
            worker_id = self._next_worker(queue)
            if worker_id is None:
                break  # every worker is full; completions will call us again
            key, _ = queue.pending.popitem(last=False)
            self._hold(key, worker_id)
            batches.setdefault(worker_id, []).append(key)
        for worker_id, job_keys in batches.items():
            lock_ms = self._workers[worker_id].types.get(job_type, self.settings.lock_ms_default)
            self._spawn(self._activate(job_type, worker_id, job_keys, lock_ms))
        if queue.overflow and len(queue.pending) < self.settings.pending_per_type_max // 4:
            self._schedule_load(job_type)
        if self._offering is not None and not queue.pending and not queue.overflow:
            self._post_offers(job_type, queue, self._offering)

    # ----------------------------------------------------------- push offers

    def _post_offers(self, job_type: str, queue: _TypeQueue, offering: Offering) -> None:
        """No job of `job_type` waits: reserve room of its workers as offers for the next
        batches (zennode.jobs.offers), up to the per-type bound, round robin.

        Only to local workers while the type has any: the pool is kept full, so offering the
        remote ones whatever the local ones have reserved would hand them jobs a local worker
        could take a moment later (local first, `choice.py`). A job that then finds no offer
        waits as pending, and `_dispatch` gives it to a remote worker only when no local one
        has room. A type with no local worker offers the remote ones."""
        fresh: list[Offer] = []
        local_only = self._has_local(queue)
        for _ in range(offering.room_for(job_type)):
            worker_id = self._next_worker(queue, local_only)
            if worker_id is None:
                break  # every worker is full
            worker = self._workers[worker_id]
            lock_ms = worker.types.get(job_type, self.settings.lock_ms_default)
            fresh.append(offering.reserve(job_type, worker_id, lock_ms))
        offering.post(fresh)

    def _withdraw_offers(self, match: Callable[[Offer], bool]) -> None:
        """Take back matching posted offers and give their workers the room again."""
        if self._offering is not None:
            self._offering.withdraw(match)

    def _still_wanted(self, offer: Offer) -> bool:
        """Whether an unused offer may be posted again: we lead, its worker still takes its
        type, no job of the type waits (those get the room instead), and it is not a remote
        worker's while a local one takes the type (`_post_offers`)."""
        worker = self._workers.get(offer.worker)
        queue = self._types.get(offer.job_type)
        return (
            self._leader
            and self._ready
            and worker is not None
            and offer.job_type in worker.types
            and queue is not None
            and not queue.pending
            and not queue.overflow
            and (worker.local or not self._has_local(queue))
        )

    def _has_local(self, queue: _TypeQueue) -> bool:
        """Whether a worker connected to this node takes the queue's type (offers go only to
        such workers then, `_post_offers`)."""
        return any(self._workers[w].local for w in queue.workers)

    def on_offers_settled(
        self,
        used: list[tuple[Offer, dict[str, Any]]],
        unused: list[Offer],
        lost: list[Offer] | None = None,
    ) -> None:
        """A batch of ours is done with its offers (on the loop): push the jobs they
        activated, free the slots they did not use. `lost`: offers of a batch whose outcome is
        unknown are freed, never posted again (had it committed, the slot would activate a
        second job; a job it did activate is counted by its `job_activated` event).

        Our own batch is settled even after leadership moved (like `_push_committed`): its
        jobs are locked to their workers, and only this node knows to push them, while their
        locks last (a job whose lock ran out is the lock expiry's to hand out again).
        """
        if self._offering is None or self._closed:
            return
        touched: set[str] = set()
        for offer in unused:
            if self._still_wanted(offer) and self._offering.repost(offer):
                continue  # the worker still waits: the same slot, in its turn
            self._offering.settle(offer)
            touched.add(offer.job_type)
        for offer in lost or []:
            self._offering.settle(offer)
            touched.add(offer.job_type)
        undelivered: dict[str, list[int]] = {}
        for offer, job in used:
            key = int(job["key"])
            ours = self._offering.settle(offer) and self._leader
            worker = self._workers.get(offer.worker)
            self.stats["activated"] += 1
            touched.add(offer.job_type)  # its slot is settled: the type may offer another
            deadline = job.get("deadline")
            if ours:
                self._hold(key, offer.worker)
                if isinstance(deadline, int):
                    self._add_deadline(deadline)
            if isinstance(deadline, int) and deadline <= self._clock_ms():
                # Its lock ran out before we learned of the commit (we were cut off and the
                # next leader committed our batch): that leader has expired the lock and may
                # have handed the job out again. Pushing it now would hand it out twice.
                continue
            if worker is not None and worker.sink.deliver(job):
                self._count_pushed(worker)
                continue
            self.stats["push_failed"] += 1
            if ours:  # the worker left (or its stream is full): free the job now
                self._unhold(key, touched)
                undelivered.setdefault(offer.worker, []).append(key)
        for worker_id, keys in undelivered.items():
            self._spawn(self._release(ReleaseJobs(worker=worker_id, job_keys=keys)))
        for job_type in touched:
            self._dispatch(job_type)

    async def _activate(
        self, job_type: str, worker_id: str, job_keys: list[int], lock_ms: int
    ) -> None:
        epoch = self._epoch
        command = ActivateJobs(
            job_type=job_type,
            worker=worker_id,
            timeout_ms=lock_ms,
            max_jobs=len(job_keys),
            job_keys=job_keys,
        )
        try:
            outcome = await self._submit(command)
        except Exception as exc:  # no leader, backpressure, shutdown: the jobs stay ours to retry
            if epoch == self._epoch:
                log.debug("partition %s: activation failed: %s", self.partition_id, exc)
                self._give_back(job_type, worker_id, job_keys, retry=True)
            return
        if epoch != self._epoch:
            # The term changed while the activation committed: the jobs ARE locked to the
            # worker now (the new leader reads them as held, so it never hands them out), and
            # only this call knows them: push them, or they sit out their whole lock.
            self._push_committed(worker_id, outcome)
            return
        if outcome.error is not None:
            log.warning("partition %s: activate_jobs refused: %s", self.partition_id, outcome.error)
            self._give_back(job_type, worker_id, job_keys, retry=False)
            return
        jobs = (outcome.result or {}).get("jobs", [])
        activated = {int(job["key"]) for job in jobs}
        touched: set[str] = set()
        for key in job_keys:
            if key not in activated and self._holder.get(key) == worker_id:
                self._unhold(key, touched)  # no longer activatable (completed, cancelled)
        self.stats["activated"] += len(jobs)
        worker = self._workers.get(worker_id)
        undelivered: list[int] = []
        for job in jobs:
            key = int(job["key"])
            deadline = job.get("deadline")
            if isinstance(deadline, int):
                self._add_deadline(deadline)
            if worker is None or self._holder.get(key) != worker_id or not worker.sink.deliver(job):
                undelivered.append(key)
                if self._holder.get(key) == worker_id:
                    self._unhold(key, touched)
            else:
                self._count_pushed(worker)
        if undelivered:
            # The worker left (or its stream is full) while we activated: free the jobs now.
            self.stats["push_failed"] += len(undelivered)
            command = ReleaseJobs(worker=worker_id, job_keys=undelivered)
            self._spawn(self._release(command))
        for other in touched:
            self._dispatch(other)

    def _next_worker(self, queue: _TypeQueue, local_only: bool = False) -> str | None:
        """The worker with room to get the queue's next job or offer (`choice.next_worker`:
        local first, round robin); `local_only`: none of the remote ones."""
        workers = self._workers
        return next_worker(
            queue.workers,
            queue.cursor,
            has_room=lambda w: self._room(w) > 0 and (workers[w].local or not local_only),
            is_local=lambda w: workers[w].local,
        )

    def _room(self, worker_id: str) -> int:
        """Room left in a worker's limit: its jobs in flight and its unsettled offers out."""
        offered = self._offering.reserved_for(worker_id) if self._offering is not None else 0
        return self._workers[worker_id].room(offered)

    def _count_pushed(self, worker: _Worker) -> None:
        self.stats["pushed"] += 1
        if not worker.local:
            self.stats["pushed_remote"] += 1

    def _push_committed(self, worker_id: str, outcome: Outcome) -> None:
        """Deliver an activation that committed after a role change (no reservations left to
        update; one the worker cannot take waits for its lock to expire)."""
        worker = self._workers.get(worker_id)
        if outcome.error is not None or worker is None:
            return
        for job in (outcome.result or {}).get("jobs", []):
            if worker.sink.deliver(job):
                self._count_pushed(worker)
            else:
                self.stats["push_failed"] += 1

    def _give_back(self, job_type: str, worker_id: str, job_keys: list[int], retry: bool) -> None:
        """Undo a reservation; with `retry`, queue the jobs again after a short back-off."""
        touched: set[str] = set()
        queue = self._types.get(job_type)
        for key in job_keys:
            if self._holder.get(key) != worker_id:
                continue
            self._unhold(key, touched)
            if retry and queue is not None:
                self._enqueue(queue, key, job_type)
        if retry:
            loop = asyncio.get_running_loop()
            loop.call_later(self.settings.retry_delay_ms / 1000, self._dispatch, job_type)
        for other in touched - {job_type}:
            self._dispatch(other)

    async def _release(self, command: ReleaseJobs) -> None:
        try:
            outcome = await self._submit(command)
        except Exception as exc:
            # Not lost: the lock deadline still expires and `timeout_jobs` frees the jobs.
            log.warning("partition %s: release_jobs failed: %s", self.partition_id, exc)
            return
        if outcome.error is not None:
            log.warning("partition %s: release_jobs refused: %s", self.partition_id, outcome.error)
        else:
            self.stats["released"] += 1

    # ---------------------------------------------------------------- loads

    def _schedule_load(self, job_type: str) -> None:
        queue = self._types.get(job_type)
        if queue is None or not self._leader:
            return
        if queue.loading:
            queue.load_again = True
            return
        queue.loading = True
        self._spawn(self._load(job_type, queue))

    async def _load(self, job_type: str, queue: _TypeQueue) -> None:
        """Read activatable jobs of `job_type` from state into its queue (bounded)."""
        epoch = self._epoch
        try:
            room = self.settings.pending_per_type_max - len(queue.pending)
            limit = max(0, min(self.settings.load_page_max, room))
            if limit == 0:
                return
            try:
                found = await self._load_activatable(job_type, limit)
            except Exception as exc:
                log.warning(
                    "partition %s: loading %r jobs failed: %s", self.partition_id, job_type, exc
                )
                return
            if epoch != self._epoch or self._types.get(job_type) is not queue:
                return
            queue.overflow = len(found) >= limit
            for key, at_ms in found:
                if key not in self._holder:
                    self._enqueue(queue, key, job_type, at_ms)
            self._dispatch(job_type)
        finally:
            queue.loading = False
            if queue.load_again and self._types.get(job_type) is queue:
                queue.load_again = False
                self._schedule_load(job_type)

    # ------------------------------------------------------------- timeouts

    def _add_deadline(self, deadline_ms: int) -> None:
        """Remember a lock deadline: its lock is expired soon after it passes."""
        self._expiry.add(self.partition_id, deadline_ms)

    async def _tick_loop(self) -> None:
        """Every tick: queue jobs whose back-off ended; sweep once per default lock period."""
        interval = self.settings.tick_ms / 1000
        while not self._closed:
            await asyncio.sleep(interval)
            if not self._leader:
                continue
            self._release_delayed()
            if self._clock_ms() >= self._next_sweep_ms:
                self._next_sweep_ms = self._clock_ms() + self.settings.lock_ms_default
                self._add_deadline(self._clock_ms())

    def _release_delayed(self) -> None:
        now = self._clock_ms()
        touched: set[str] = set()
        while self._delayed and self._delayed[0][0] <= now:
            _, key, job_type = heapq.heappop(self._delayed)
            queue = self._types.get(job_type)
            if queue is not None:
                self._enqueue(queue, key, job_type)
                touched.add(job_type)
        for job_type in touched:
            self._dispatch(job_type)

    # -------------------------------------------------------------- helpers

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "partition %s: job manager task failed",
                self.partition_id,
                exc_info=task.exception(),
            )

    def snapshot(self) -> dict[str, Any]:
        """Counts for status pages and tests."""
        return {
            "partition": self.partition_id,
            "leader": self._leader,
            "workers": len(self._workers),
            "types": {t: len(q.pending) for t, q in self._types.items()},
            "inFlight": len(self._holder),
            "offered": self._offering.reserved_count() if self._offering is not None else 0,
            **self.stats,
        }
