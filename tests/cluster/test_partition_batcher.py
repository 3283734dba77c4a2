"""The batcher alone (no Raft): limits, backpressure, clock, failures and expiry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from zennode.cluster.batcher import (
    Batch,
    Batcher,
    BatchLimits,
    NotCommitted,
    OutcomeUnknown,
    Pace,
)
from zennode.cluster.offer_book import OfferBook
from zennode.engine.offers import Offer
from zennode.engine.outcome import Outcome
from zennode.errors import Backpressure, Unavailable

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """A `send` that records batches; the test decides when they are answered."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.sent = threading.Condition()

    def __call__(self, batch: Batch) -> None:
        with self.sent:
            self.batches.append(batch)
            self.sent.notify_all()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Batch]:
        with self.sent:
            ok = self.sent.wait_for(lambda: len(self.batches) >= count, timeout_s)
        assert ok, f"only {len(self.batches)} of {count} batches sent"
        return list(self.batches)


@pytest.fixture
def make() -> Iterator:
    made: list[Batcher] = []

    def build(clock=None, offers=None, **limits) -> tuple[Batcher, Recorder]:
        recorder = Recorder()
        kwargs = {"clock_ms": clock} if clock else {}
        batcher = Batcher(1, BatchLimits(**limits), recorder, offers=offers, **kwargs)
        batcher.start()
        made.append(batcher)
        return batcher, recorder

    yield build
    for batcher in made:
        batcher.stop(Unavailable("test over"))


def answer(batcher: Batcher, batch: Batch) -> None:
    taken = batcher.take(batch.batch_id)
    assert taken is batch
    for pending in batch.items:
        pending.future.set_result(Outcome(result={"id": pending.request_id}))


def test_first_command_goes_alone_then_the_queue_forms_bounded_batches(make):
    batcher, rec = make(max_items=10, max_delay_ms=1000.0, max_in_flight_batches=1)
    first = batcher.submit(b"x")
    [lone] = rec.wait_for(1)
    assert len(lone.items) == 1  # nothing was in flight: no waiting
    futures = [batcher.submit(b"y") for _ in range(25)]
    time.sleep(0.05)
    assert len(rec.batches) == 1  # one batch in flight at most
    answer(batcher, lone)
    assert first.result(timeout=1).result == {"id": lone.items[0].request_id}
    second = rec.wait_for(2)[1]
    assert len(second.items) == 10  # full: sent without waiting for the delay
    answer(batcher, second)
    third = rec.wait_for(3)[2]
    answer(batcher, third)
    last = rec.wait_for(4)[3]
    answer(batcher, last)
    assert [len(b.items) for b in rec.batches] == [1, 10, 10, 5]
    ids = [p.request_id for b in rec.batches[1:] for p in b.items]
    assert ids == sorted(ids)
    assert all(f.done() for f in futures)


def test_byte_limit_and_an_oversized_command_goes_alone(make):
    batcher, rec = make(max_items=100, max_bytes=100, max_delay_ms=50.0, max_in_flight_batches=1)
    blocker = batcher.submit(b"b")
    rec.wait_for(1)
    for size in (40, 40, 40, 500, 10):
        batcher.submit(b"z" * size)
    answer(batcher, rec.batches[0])
    for n in range(2, 5):
        answer(batcher, rec.wait_for(n)[n - 1])
    sizes = [[len(p.payload) for p in b.items] for b in rec.batches[1:]]
    assert sizes == [[40, 40], [40], [500]]
    answer(batcher, rec.wait_for(5)[4])
    assert [len(p.payload) for p in rec.batches[4].items] == [10]
    assert blocker.done()


def test_backpressure_counts_queued_and_in_flight_commands(make):
    batcher, rec = make(queue_max=5, max_in_flight_batches=1)
    futures = [batcher.submit(b"c") for _ in range(5)]
    with pytest.raises(Backpressure) as info:
        batcher.submit(b"c")
    assert info.value.partition_id == 1
    answered = 0
    while batcher.pending_count() and answered < 5:
        answer(batcher, rec.wait_for(answered + 1)[answered])
        answered += 1
    assert all(f.done() for f in futures)
    batcher.submit(b"c")  # room again


def test_now_ms_never_goes_back_even_if_the_clock_does(make):
    readings = iter([1000, 900, 1200, 1100])
    batcher, rec = make(clock=lambda: next(readings), max_in_flight_batches=1)
    for i in range(4):
        batcher.submit(b"t")
        batch = rec.wait_for(i + 1)[i]
        answer(batcher, batch)
    assert [b.now_ms for b in rec.batches] == [1000, 1000, 1200, 1200]


def test_fail_queued_and_stop_resolve_every_future(make):
    batcher, rec = make(max_in_flight_batches=1)
    in_flight = batcher.submit(b"a")
    rec.wait_for(1)
    queued = [batcher.submit(b"q") for _ in range(3)]
    assert batcher.fail_queued(NotCommitted("leadership lost")) == 3
    for f in queued:
        assert isinstance(f.exception(timeout=1), NotCommitted)
    assert not in_flight.done()  # Raft may still commit it
    batcher.stop(OutcomeUnknown("stopping"))
    assert isinstance(in_flight.exception(timeout=1), OutcomeUnknown)
    assert batcher.pending_count() == 0
    with pytest.raises(Unavailable):
        batcher.submit(b"late")


def test_unanswered_batches_expire_as_outcome_unknown(make):
    batcher, rec = make(in_flight_timeout_s=0.2)
    future = batcher.submit(b"e")
    rec.wait_for(1)
    error = future.exception(timeout=3)
    assert isinstance(error, OutcomeUnknown)
    assert batcher.pending_count() == 0
    assert batcher.take(rec.batches[0].batch_id) is None  # a late answer finds nothing


def test_a_send_that_raises_fails_its_batch_as_not_committed():
    def broken(batch: Batch) -> None:
        raise RuntimeError("raft queue gone")

    batcher = Batcher(1, BatchLimits(), broken)
    batcher.start()
    try:
        assert isinstance(batcher.submit(b"x").exception(timeout=3), NotCommitted)
    finally:
        batcher.stop(Unavailable("done"))


def test_pace_waits_only_while_commands_arrive_faster_than_the_wait():
    limits = BatchLimits(adapt_max_ms=5.0, adapt_fraction=0.5)
    pace = Pace()
    assert pace.wait_s(limits) == 0.0  # nothing measured yet: send at once
    pace.committed(0.004)
    for at in (0.0, 0.001, 0.002):
        pace.arrived(at)
    assert pace.wait_s(limits) == pytest.approx(0.002)  # half a 4 ms round trip
    pace.committed(0.100)  # a slow round trip: the wait stays bounded by adapt_max_ms
    assert pace.wait_s(limits) == pytest.approx(0.005)
    assert pace.wait_s(BatchLimits(adapt_max_ms=0.0)) == 0.0  # off
    for at in (0.5, 1.0, 1.5, 2.0):  # a trickle: no command expected within the wait
        pace.arrived(at)
    assert pace.wait_s(limits) == 0.0


def test_adaptive_batching_holds_a_small_batch_for_commands_that_follow(make):
    batcher, rec = make(adapt_max_ms=1000.0, adapt_fraction=1.0, max_in_flight_batches=1)
    batcher.submit(b"a")
    [first] = rec.wait_for(1)
    assert len(first.items) == 1  # nothing measured yet: no waiting
    for _ in range(4):
        batcher.submit(b"q")  # queued behind the batch in flight, arriving quickly
    time.sleep(0.6)
    answer(batcher, first)  # a 0.6 s round trip
    second = rec.wait_for(2)[1]
    assert len(second.items) == 4  # waited long enough already: sent at once
    answer(batcher, second)
    futures = [batcher.submit(b"n") for _ in range(3)]
    third = rec.wait_for(3)[2]
    # Without adapting, the first of these would go alone (nothing in flight); now it waits
    # a part of the round trip (about 0.5 s) and the other two join it.
    assert [p.future for p in third.items] == futures
    answer(batcher, third)


class Settled:
    """An offer book listener: what each failed batch gave back, and how."""

    def __init__(self) -> None:
        self.unused: list[int] = []
        self.lost: list[int] = []
        self.done = threading.Event()

    def __call__(self, used, unused, lost) -> None:
        assert not used
        self.unused += [o.slot for o in unused]
        self.lost += [o.slot for o in lost]
        self.done.set()


@pytest.mark.parametrize(
    ("error", "posted_again"),
    [(NotCommitted("leadership lost", 1), True), (OutcomeUnknown("leader changed", 1), False)],
)
def test_a_failed_batchs_offers_are_posted_again_only_when_it_certainly_never_committed(
    make, error, posted_again
):
    """A batch whose outcome is unknown may have committed: had its offers been posted again,
    one slot could activate two jobs. They are freed (`lost`) instead."""
    book, settled = OfferBook(), Settled()
    book.listen(settled)
    book.post([Offer(7, "t", "w", 1_000)])
    batcher, rec = make(offers=book)
    batcher.submit(b"x")
    (batch,) = rec.wait_for(1)
    assert [o.slot for o in batch.offers] == [7]
    batcher.fail(batch.batch_id, error)
    assert (settled.unused, settled.lost) == (([7], []) if posted_again else ([], [7]))


def test_an_expired_or_skipped_batchs_offers_are_lost_not_posted_again(make):
    book, settled = OfferBook(), Settled()
    book.listen(settled)
    book.post([Offer(1, "t", "w", 1_000)])
    batcher, rec = make(offers=book, in_flight_timeout_s=0.2)
    batcher.submit(b"e")
    rec.wait_for(1)
    assert settled.done.wait(3), "the expired batch's offers were never settled"
    assert (settled.unused, settled.lost) == ([], [1])
    # A batch applied inside a snapshot (the partition skips its entry): taken as not
    # committed, but it was applied, so its offers may have been used.
    book.post([Offer(2, "t", "w", 1_000)])
    batcher, rec = make(offers=book)
    batcher.submit(b"s")
    (batch,) = rec.wait_for(1)
    assert batcher.take(batch.batch_id, committed=False) is batch
    assert (settled.unused, settled.lost) == ([], [1, 2])
