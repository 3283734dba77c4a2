"""The job manager's push offers (zennode.jobs.offers) on the manager alone, with a real
`OfferBook` standing in for the batcher: commands are recorded, batches are `take` + `settle`
by hand (no Raft). In-flight limits, round robin, pending jobs first, departed workers and a
leader change between offer and commit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from support.sinks import Sink
from support.waits import eventually

from zennode.cluster.offer_book import OfferBook
from zennode.engine.commands import Command, to_wire
from zennode.engine.offers import Offer
from zennode.engine.outcome import Outcome
from zennode.jobs.manager import JobManager, Settings

pytestmark = pytest.mark.timeout(20)


def manager_with_book(**settings: int) -> tuple[JobManager, OfferBook, list[dict[str, Any]]]:
    commands: list[dict[str, Any]] = []

    async def submit(record: Command) -> Outcome:
        command = to_wire(record)
        commands.append(command)
        if command["type"] == "activate_jobs":
            jobs = [{"key": k, "type": command["jobType"]} for k in command["jobKeys"]]
            return Outcome(result={"jobs": jobs})
        return Outcome(result={"released": 0, "more": False})

    async def nothing(*_: Any) -> list[Any]:
        return []

    book = OfferBook()
    manager = JobManager(
        1,
        submit=submit,
        load_activatable=nothing,
        settings=Settings(tick_ms=20, **settings),
        load_activated=nothing,
        offer_book=book,
    )
    return manager, book, commands


def job_for(offer: Offer, key: int) -> dict[str, Any]:
    return {"key": key, "type": offer.job_type, "worker": offer.worker, "deadline": 10**13}


async def settle(book: OfferBook, used: list[tuple[Offer, int]], unused: list[Offer]) -> None:
    """The partition settling a batch on its tick thread; the manager hears it on the loop."""
    book.settle([(offer, job_for(offer, key)) for offer, key in used], unused)
    await asyncio.sleep(0.02)


def test_waiting_workers_are_offered_round_robin_within_their_limits() -> None:
    async def scenario() -> None:
        manager, book, _ = manager_with_book()
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("a"), "t", 5_000, 2)
            manager.subscribe(Sink("b"), "t", 7_000, 1)
            await eventually(lambda: book.posted_count() == 3, 2, "offers posted")
            offers = book.take(10)
            assert [(o.worker, o.lock_ms) for o in offers] == [
                ("a", 5_000),
                ("b", 7_000),
                ("a", 5_000),
            ]
            assert book.take(10) == ()  # all room is reserved: the limits hold
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_used_offer_is_pushed_and_held_and_an_unused_one_is_offered_again() -> None:
    async def scenario() -> None:
        manager, book, commands = manager_with_book()
        manager.start(is_leader=True)
        sink = Sink("a")
        try:
            manager.subscribe(sink, "t", 5_000, 2)
            await eventually(lambda: book.posted_count() == 2, 2, "offers posted")
            first, second = book.take(1 + 1)
            await settle(book, [(first, 41)], [second])
            assert [j["key"] for j in sink.jobs] == [41]  # pushed after one commit
            assert manager.snapshot()["inFlight"] == 1
            assert book.posted_count() == 1  # the unused slot is free and offered again
            # The batch's events follow: nothing is activated a second time.
            manager.on_events(
                [
                    {"event": "job_created", "jobKey": 41, "type": "t"},
                    {"event": "job_activated", "jobKey": 41, "type": "t", "worker": "a"},
                ]
            )
            await asyncio.sleep(0.05)
            assert [c for c in commands if c["type"] == "activate_jobs"] == []
            assert manager.snapshot()["inFlight"] == 1
            manager.on_events([{"event": "job_completed", "jobKey": 41}])
            await eventually(lambda: book.posted_count() == 2, 2, "its room is offered again")
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_job_created_without_an_offer_takes_the_posted_room() -> None:
    async def scenario() -> None:
        manager, book, commands = manager_with_book()
        manager.start(is_leader=True)
        sink = Sink("a")
        try:
            manager.subscribe(sink, "t", 5_000, 1)
            await eventually(lambda: book.posted_count() == 1, 2, "offer posted")
            # A batch that carried no offer created a job: it goes the two-commit way.
            manager.on_events([{"event": "job_created", "jobKey": 9, "type": "t"}])
            await eventually(lambda: [j["key"] for j in sink.jobs] == [9], 2, "job 9 pushed")
            assert book.posted_count() == 0
            assert [c["jobKeys"] for c in commands if c["type"] == "activate_jobs"] == [[9]]
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_an_offer_out_in_a_batch_keeps_its_room_until_it_settles() -> None:
    async def scenario() -> None:
        manager, book, commands = manager_with_book()
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("a"), "t", 5_000, 1)
            await eventually(lambda: book.posted_count() == 1, 2, "offer posted")
            (offer,) = book.take(1)
            manager.on_events([{"event": "job_created", "jobKey": 9, "type": "t"}])
            await asyncio.sleep(0.05)
            assert [c for c in commands if c["type"] == "activate_jobs"] == [], "over the limit"
            await settle(book, [], [offer])  # the batch created no job: job 9 gets the room
            await eventually(
                lambda: [c for c in commands if c["type"] == "activate_jobs"], 2, "job 9 out"
            )
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_worker_that_left_before_the_commit_gets_its_offered_job_released() -> None:
    async def scenario() -> None:
        manager, book, commands = manager_with_book()
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("a"), "t", 5_000, 2)
            await eventually(lambda: book.posted_count() == 2, 2, "offers posted")
            (offer,) = book.take(1)
            manager.remove_worker("a")
            assert book.posted_count() == 0  # withdrawn before its release is submitted
            await settle(book, [(offer, 77)], [])
            await eventually(
                lambda: [c for c in commands if c.get("jobKeys") == [77]], 2, "job 77 released"
            )
            (release,) = [c for c in commands if c.get("jobKeys") == [77]]
            assert release["type"] == "release_jobs" and release["worker"] == "a"
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_an_offered_job_that_commits_after_losing_leadership_is_pushed_while_locked() -> None:
    """A job whose lock ran out before the late settle is not pushed: the old leader was cut
    off and learns only now that the next leader committed its batch (tests/cluster/
    test_offers_leader_change.py); that leader has expired the lock and handed the job out
    again, and a push now would hand it out twice."""

    async def scenario() -> None:
        manager, book, _ = manager_with_book()
        manager.start(is_leader=True)
        sink = Sink("a")
        try:
            manager.subscribe(sink, "t", 5_000, 2)
            await eventually(lambda: book.posted_count() == 2, 2, "offers posted")
            offer, late = book.take(2)
            manager.on_role(False)
            assert book.posted_count() == 0  # a follower offers nothing
            expired = {**job_for(late, 6), "deadline": int(time.time() * 1000) - 1}
            book.settle([(offer, job_for(offer, 5)), (late, expired)], [])
            await asyncio.sleep(0.02)
            assert [j["key"] for j in sink.jobs] == [5]
            assert manager.snapshot()["inFlight"] == 0  # the new leader counts it, not we
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_batch_takes_at_most_one_offer_per_command_and_type() -> None:
    book = OfferBook(per_batch_max=3)
    offers = [Offer(i, t, "w", 1) for i, t in enumerate(["x", "x", "y", "x", "y", "z"])]
    book.post(offers)
    assert [o.slot for o in book.take(1)] == [0, 2, 5]  # one of each type
    assert [o.slot for o in book.take(2)] == [1, 3, 4]  # the cap of 3 per batch
    assert book.withdraw([0, 1]) == []  # taken: they settle, they cannot be withdrawn


def test_offers_for_one_type_never_keep_a_job_of_another_type_waiting() -> None:
    """A worker of two types: offers for the first may fill its whole limit; a job of the
    second created without an offer must still get out (it once waited for ever)."""

    async def scenario() -> None:
        manager, book, commands = manager_with_book()
        manager.start(is_leader=True)
        sink = Sink("a")
        try:
            manager.subscribe(sink, "first", 5_000, 2)
            manager.subscribe(sink, "second", 5_000, 2)
            await eventually(lambda: book.posted_count() == 2, 2, "offers posted")
            manager.on_events([{"event": "job_created", "jobKey": 9, "type": "second"}])
            await eventually(lambda: [j["key"] for j in sink.jobs] == [9], 2, "job 9 pushed")
            assert [c["jobKeys"] for c in commands if c["type"] == "activate_jobs"] == [[9]]
            assert book.posted_count() == 1  # the room left is offered again
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_an_unused_offer_keeps_its_turn_in_the_round_robin() -> None:
    async def scenario() -> None:
        manager, book, _ = manager_with_book()
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("a"), "t", 5_000, 1)
            manager.subscribe(Sink("b"), "t", 5_000, 1)
            await eventually(lambda: book.posted_count() == 2, 2, "offers posted")
            (first,) = book.take(1)
            await settle(book, [], [first])  # its batch created no job
            assert [o.worker for o in book.take(2)] == [first.worker, "b"]
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_worker_that_subscribes_later_gets_its_turn_among_the_offers() -> None:
    async def scenario() -> None:
        manager, book, _ = manager_with_book(offers_per_type_max=4)
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("a"), "t", 5_000, 10)
            await eventually(lambda: book.posted_count() == 4, 2, "offers for a")
            manager.subscribe(Sink("b"), "t", 5_000, 10)
            await asyncio.sleep(0.02)
            assert sorted(o.worker for o in book.take(4)) == ["a", "a", "b", "b"]
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_worker_that_reconnects_finds_its_offers_out_in_a_batch_in_its_limit() -> None:
    """A worker's stream ends while two of its offers ride in a batch; it re-subscribes with
    the same id (a new stream). Those slots become its jobs when the batch settles, so they
    count against the new stream's limit: it never gets more than its limit in flight (it
    once got 4 with a limit of 2)."""

    async def scenario() -> None:
        manager, book, _ = manager_with_book()
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("a"), "t", 5_000, 2)
            await eventually(lambda: book.posted_count() == 2, 2, "offers posted")
            first, second = book.take(2)
            manager.remove_worker("a")
            again = Sink("a")
            manager.subscribe(again, "t", 5_000, 2)
            await asyncio.sleep(0.05)
            assert book.take(10) == (), "the slots out in the batch are still its room"
            await settle(book, [(first, 1), (second, 2)], [])
            assert [j["key"] for j in again.jobs] == [1, 2]  # each job counted once
            assert manager.snapshot()["inFlight"] == 2
            assert book.take(10) == (), "its limit is full"
            manager.on_events([{"event": "job_completed", "jobKey": 1}])
            await eventually(lambda: book.posted_count() == 1, 2, "one slot free again")
            assert book.take(10)[0].worker == "a"
            assert book.take(10) == ()
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_offers_go_only_to_local_workers_while_the_type_has_any() -> None:
    """The pool of offers is kept full: once the local worker's room was reserved, the rest
    once went to the remote worker and jobs kept crossing the relay (44 local / 20 remote for
    sequential jobs). Remote workers get offers only when no local worker takes the type."""

    async def scenario() -> None:
        manager, book, _ = manager_with_book()
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("remote"), "t", 5_000, 11, local=False)
            await eventually(lambda: book.posted_count() == 11, 2, "remote-only type: offered")
            manager.subscribe(Sink("local"), "t", 5_000, 11)
            await asyncio.sleep(0.05)
            taken = book.take(16)
            assert [o.worker for o in taken] == ["local"] * 11
            # An unused offer of the remote worker (out before the local one came) is freed,
            # not posted again.
            stale = Offer(0, "t", "remote", 5_000)
            await settle(book, [], [stale, taken[0]])
            assert [o.worker for o in book.take(16)] == ["local"]
            manager.remove_worker("local")
            # 11 local slots are still out in batches: 5 more fit the bound of 16 per type.
            await eventually(lambda: book.posted_count() == 5, 2, "the remote one is offered")
            assert [o.worker for o in book.take(16)] == ["remote"] * 5
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_job_pushed_through_an_offer_to_a_remote_worker_counts_as_pushed_remote() -> None:
    async def scenario() -> None:
        manager, book, _ = manager_with_book()
        manager.start(is_leader=True)
        sink = Sink("remote")
        try:
            manager.subscribe(sink, "t", 5_000, 1, local=False)
            await eventually(lambda: book.posted_count() == 1, 2, "offer posted")
            (offer,) = book.take(1)
            await settle(book, [(offer, 3)], [])
            assert [j["key"] for j in sink.jobs] == [3]
            stats = manager.snapshot()
            assert (stats["pushed"], stats["pushed_remote"]) == (1, 1)
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_lost_offer_is_freed_and_never_posted_again() -> None:
    """Offers of a batch whose outcome is unknown (it may have committed and used them): the
    slot is freed, and the worker's room is offered under a new slot."""

    async def scenario() -> None:
        manager, book, _ = manager_with_book()
        manager.start(is_leader=True)
        try:
            manager.subscribe(Sink("a"), "t", 5_000, 1)
            await eventually(lambda: book.posted_count() == 1, 2, "offer posted")
            (offer,) = book.take(1)
            book.settle([], [], lost=[offer])
            await eventually(lambda: book.posted_count() == 1, 2, "the room offered again")
            (fresh,) = book.take(1)
            assert fresh.slot != offer.slot and fresh.worker == "a"
            assert manager.snapshot()["offered"] == 1
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_listener_that_raises_does_not_break_settling() -> None:
    """The manager's listener hops to its loop with `call_soon_threadsafe`, which raises once
    that loop is closed (the node stopping): settling runs inside apply, before the batch's
    futures are resolved and its events handed out, so it must not raise."""

    def closed_loop(*_: Any) -> None:
        raise RuntimeError("Event loop is closed")

    book = OfferBook()
    book.listen(closed_loop)
    offer = Offer(1, "t", "w", 1_000)
    book.settle([(offer, job_for(offer, 5))], [])
    book.settle([], [offer])
    book.settle([], [], lost=[offer])
