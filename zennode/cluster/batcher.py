"""The leader's command batcher: many pending commands become one replicated Raft entry.

One `@replicated` call per command caps a partition at a few hundred commands per second in
Python; one call per batch is what makes Raft affordable (see pysyncobj-findings.md §4). The
batcher owns the bookkeeping between `submit` and the apply that answers it: the bounded queue
(backpressure), the batches in flight (bounded too), and their futures. It never touches Raft
or LMDB itself: `send` hands a finished batch to the partition.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from zennode.cluster.offer_book import OfferBook
from zennode.engine.offers import Offer
from zennode.engine.outcome import Outcome
from zennode.errors import Backpressure, Unavailable, ZennodeError

log = logging.getLogger(__name__)


class NotCommitted(Unavailable):
    """The command was certainly not applied (never reached the log, or its entry was
    replaced): the caller may retry it, on the current leader, without applying it twice."""


class OutcomeUnknown(Unavailable):
    """The command may or may not be applied (the leader changed or Raft went quiet after it
    was handed over): a blind retry could apply it twice."""


_IDLE_WAIT_S = 0.1  # how often an idle batcher thread checks for expiry and stop


@dataclass(slots=True)
class Pending:
    """One submitted command waiting for its outcome."""

    request_id: int
    payload: bytes  # the pickled command
    future: Future[Outcome]
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Batch:
    batch_id: tuple[bytes, int]  # (this batcher's random nonce, sequence): unique cluster-wide
    now_ms: int
    items: list[Pending]
    sent_at: float = 0.0
    offers: tuple[Offer, ...] = ()  # push offers the job manager posted (zennode.engine.offers)

    @property
    def size_bytes(self) -> int:
        return sum(len(p.payload) for p in self.items)


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_items: int = 200
    max_bytes: int = 256 * 1024
    max_delay_ms: float = 2.0
    # Adaptive batching (`Pace`): while commands arrive faster than `adapt_fraction` of a
    # commit round trip, a small batch waits up to that long (at most `adapt_max_ms`) for
    # more, so they share one Raft entry and one fsync. 0: off.
    adapt_max_ms: float = 0.0
    adapt_fraction: float = 0.5
    adapt_small_items: int = 16  # a batch this large no longer waits beyond `max_delay_ms`
    queue_max: int = 10_000  # commands queued or in flight before submit raises Backpressure
    max_in_flight_batches: int = 8
    in_flight_timeout_s: float = 30.0  # a batch not answered by then fails with Unavailable


class Pace:
    """What adaptive batching goes by: moving averages of the gap between submitted commands
    and of a batch's commit round trip (sent → answered), both on the leader's monotonic
    clock. Guarded by the batcher's condition lock."""

    _ALPHA = 0.2  # weight of the newest sample
    _GAP_CAP_S = 1.0  # an idle pause counts as one long gap, not as hours

    def __init__(self) -> None:
        self.gap_s: float | None = None
        self.rtt_s: float | None = None
        self._last_arrival: float | None = None

    def arrived(self, now: float) -> None:
        if self._last_arrival is not None:
            gap = min(now - self._last_arrival, self._GAP_CAP_S)
            self.gap_s = self._average(self.gap_s, gap)
        self._last_arrival = now

    def committed(self, round_trip_s: float) -> None:
        self.rtt_s = self._average(self.rtt_s, max(0.0, round_trip_s))

    @classmethod
    def _average(cls, mean: float | None, sample: float) -> float:
        return sample if mean is None else mean + cls._ALPHA * (sample - mean)

    def wait_s(self, limits: BatchLimits) -> float:
        """How long a small batch may wait for more commands; 0 when adapting is off, nothing
        was measured yet, or the next command is not expected within the wait."""
        if limits.adapt_max_ms <= 0 or self.gap_s is None or self.rtt_s is None:
            return 0.0
        wait = min(limits.adapt_max_ms / 1000.0, limits.adapt_fraction * self.rtt_s)
        return wait if self.gap_s < wait else 0.0


def _resolve(future: Future[Outcome], outcome: Outcome | None, error: Exception | None) -> None:
    """Set a future once; a second answer (e.g. a late commit after a timeout) is dropped."""
    if future.done():
        return
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a concurrent resolution won the race
        pass


class Batcher:
    """Collects commands on its own thread and hands batches to `send` (non-blocking)."""

    def __init__(
        self,
        partition_id: int,
        limits: BatchLimits,
        send: Callable[[Batch], None],
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        offers: OfferBook | None = None,
    ) -> None:
        self.partition_id = partition_id
        self._offers = offers  # push offers go into each batch when it closes
        self.limits = limits
        self._send = send
        self._clock_ms = clock_ms
        self._nonce = os.urandom(8)
        self._seq = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._cond = threading.Condition()
        self._queue: deque[Pending] = deque()
        self._queued_bytes = 0
        self._in_flight: dict[tuple[bytes, int], Batch] = {}
        self._outstanding = 0  # queued + in flight, what queue_max bounds
        self._last_now_ms = 0
        self._pace = Pace()
        self._running = False
        self._thread: threading.Thread | None = None
        # Observed batch sizes, for status and benchmarks (bounded counters only).
        self.batches_sent = 0
        self.commands_sent = 0
        self.max_batch_items = 0

    def start(self) -> None:
        with self._cond:
            self._running = True
        self._thread = threading.Thread(
            target=self._run, name=f"batcher-p{self.partition_id}", daemon=True
        )
        self._thread.start()

    def submit(self, payload: bytes) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._cond:
            if not self._running:
                raise NotCommitted("partition is stopping", partition_id=self.partition_id)
            if self._outstanding >= self.limits.queue_max:
                raise Backpressure(
                    f"partition {self.partition_id} has {self._outstanding} commands pending",
                    partition_id=self.partition_id,
                )
            pending = Pending(next(self._request_ids), payload, future)
            self._pace.arrived(pending.queued_at)
            self._queue.append(pending)
            self._queued_bytes += len(payload)
            self._outstanding += 1
            self._cond.notify()
        return future

    def take(
        self, batch_id: tuple[bytes, int], committed: bool = True, reusable: bool = False
    ) -> Batch | None:
        """Remove a batch in flight (it was applied, or failed: `committed=False`); None if
        it is not ours. An applied batch's round trip feeds adaptive batching. The caller
        settles an applied batch's offers; a failed batch's are settled here: as unused (posted
        again) only when it certainly never committed (`reusable`, a `NotCommitted`), else as
        lost (freed, never posted again: had the batch committed, a slot would activate two
        jobs)."""
        with self._cond:
            batch = self._in_flight.pop(batch_id, None)
            if batch is not None:
                if committed:
                    self._pace.committed(time.monotonic() - batch.sent_at)
                self._outstanding -= len(batch.items)
                self._cond.notify()
        if batch is not None and not committed:
            self._return_offers(batch, reusable)
        return batch

    def _return_offers(self, batch: Batch, reusable: bool) -> None:
        if self._offers is not None and batch.offers:
            if reusable:
                self._offers.settle([], list(batch.offers))
            else:
                self._offers.settle([], [], lost=list(batch.offers))

    def fail(self, batch_id: tuple[bytes, int], error: ZennodeError) -> None:
        batch = self.take(batch_id, committed=False, reusable=isinstance(error, NotCommitted))
        if batch is not None:
            for pending in batch.items:
                _resolve(pending.future, None, error)

    def fail_queued(self, error: ZennodeError) -> int:
        """Fail every command not yet sent (leadership lost); returns how many."""
        with self._cond:
            queued = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._outstanding -= len(queued)
        for pending in queued:
            _resolve(pending.future, None, error)
        return len(queued)

    def close(self, error: ZennodeError) -> None:
        """Stop taking commands: end the thread and fail what was never sent.

        Batches already in flight keep their futures: Raft may still commit them.
        """
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.fail_queued(error)

    def fail_in_flight(self, error: ZennodeError) -> None:
        with self._cond:
            batch_ids = list(self._in_flight)
        for batch_id in batch_ids:
            self.fail(batch_id, error)

    def stop(self, error: ZennodeError) -> None:
        """Stop the thread and fail everything still queued or in flight."""
        self.close(error)
        self.fail_in_flight(error)

    def pace_ms(self) -> tuple[float | None, float | None]:
        """(mean gap between submitted commands, mean commit round trip) in ms, for status."""
        with self._cond:
            gap, rtt = self._pace.gap_s, self._pace.rtt_s
        return (
            None if gap is None else round(gap * 1000, 2),
            None if rtt is None else round(rtt * 1000, 2),
        )

    def in_flight_count(self) -> int:
        return len(self._in_flight)  # a racy read is fine: used as a hint only

    def pending_count(self) -> int:
        with self._cond:
            return self._outstanding

    # The batcher thread.

    def _run(self) -> None:
        while True:
            batch, expired = self._next_batch()
            self._fail_expired(expired)
            if batch is None:
                if not self._running:
                    return
                continue
            try:
                self._send(batch)
            except Exception as exc:  # noqa: BLE001 - never lose the futures
                log.exception("partition %d: sending a batch failed", self.partition_id)
                self.fail(
                    batch.batch_id,
                    NotCommitted(f"replication failed: {exc}", partition_id=self.partition_id),
                )

    def _next_batch(self) -> tuple[Batch | None, list[Batch]]:
        """Wait for work; return (a batch to send or None, batches that expired meanwhile)."""
        limits = self.limits
        with self._cond:
            expired = self._collect_expired()
            if not self._running:
                return None, expired
            if not self._queue or len(self._in_flight) >= limits.max_in_flight_batches:
                self._cond.wait(_IDLE_WAIT_S)
                return None, expired
            # With nothing in flight, send at once (lowest latency). Otherwise give a little
            # time for more commands, so a trickle still forms batches. While commands arrive
            # quickly, a small batch may wait longer: a bounded part of a round trip (Pace).
            delay_s = limits.max_delay_ms / 1000.0 if self._in_flight else 0.0
            first_at = self._queue[0].queued_at
            base_deadline = first_at + delay_s
            adapt_deadline = first_at + max(delay_s, self._pace.wait_s(limits))
            while (
                self._running
                and self._queue
                and len(self._queue) < limits.max_items
                and self._queued_bytes < limits.max_bytes
            ):
                small = len(self._queue) < limits.adapt_small_items
                remaining = (adapt_deadline if small else base_deadline) - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if not self._running or not self._queue:
                return None, expired
            items: list[Pending] = []
            size = 0
            while self._queue and len(items) < limits.max_items:
                nxt = len(self._queue[0].payload)
                if items and size + nxt > limits.max_bytes:
                    break
                pending = self._queue.popleft()
                items.append(pending)
                size += nxt
            self._queued_bytes -= size
            # Leader wall clock, never going back within this batcher (apply clamps again).
            now_ms = max(self._clock_ms(), self._last_now_ms)
            self._last_now_ms = now_ms
            # Taken under the batcher's lock: a command the manager submits after withdrawing
            # an offer (a departed worker's release) lands in a later batch than that offer.
            offers = self._offers.take(len(items)) if self._offers is not None else ()
            batch = Batch((self._nonce, next(self._seq)), now_ms, items, time.monotonic(), offers)
            self._in_flight[batch.batch_id] = batch
            self.batches_sent += 1
            self.commands_sent += len(items)
            self.max_batch_items = max(self.max_batch_items, len(items))
            return batch, expired

    def _collect_expired(self) -> list[Batch]:
        """Remove batches that Raft never answered (an isolated leader), so capacity returns."""
        if not self._in_flight:
            return []
        horizon = time.monotonic() - self.limits.in_flight_timeout_s
        expired = [b for b in self._in_flight.values() if b.sent_at < horizon]
        for batch in expired:
            del self._in_flight[batch.batch_id]
            self._outstanding -= len(batch.items)
        return expired

    def _fail_expired(self, expired: list[Batch]) -> None:
        for batch in expired:
            self._return_offers(batch, reusable=False)  # it may still commit
            error = OutcomeUnknown(
                f"partition {self.partition_id}: no commit within "
                f"{self.limits.in_flight_timeout_s} s, outcome unknown",
                partition_id=self.partition_id,
            )
            for pending in batch.items:
                _resolve(pending.future, None, error)
