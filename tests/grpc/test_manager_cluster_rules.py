"""The job manager's rules for a cluster, on the manager alone (commands recorded, no Raft):
the in-flight limit split over partitions, a follower freeing workers that ended while another
replica led, and a new leader expiring an earlier leader's locks on time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from support.sinks import Sink
from support.waits import eventually

from zennode.engine.commands import Command, to_wire
from zennode.engine.outcome import Outcome
from zennode.jobs.manager import JobManager, Settings, partition_share

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 32, 1000])
@pytest.mark.parametrize("partitions", [1, 2, 3, 5])
def test_the_limit_is_split_over_partitions_and_never_below_one(
    limit: int, partitions: int
) -> None:
    ids = list(range(1, partitions + 1))
    shares = [partition_share(limit, pid, ids) for pid in ids]
    assert all(share >= 1 for share in shares)
    assert sum(shares) == max(limit, partitions)
    assert max(shares) - min(shares) <= 1


def recording_manager(
    activated: list[tuple[int, str, int]] | None = None,
    activatable: list[tuple[int, int]] | None = None,
    read_delay_s: float = 0.0,
    **settings: int,
) -> tuple[JobManager, list[dict[str, Any]]]:
    commands: list[dict[str, Any]] = []

    async def submit(record: Command) -> Outcome:
        command = to_wire(record)
        commands.append(command)
        if command["type"] == "activate_jobs":
            return Outcome(result={"jobs": []})
        return Outcome(result={"released": 0, "more": False})

    async def load(job_type: str, limit: int) -> list[tuple[int, int]]:
        return list(activatable or [])

    async def load_activated(limit: int) -> list[tuple[int, str, int]]:
        await asyncio.sleep(read_delay_s)  # a slow read: nothing may be handed out meanwhile
        return list(activated or [])

    manager = JobManager(
        1,
        submit=submit,
        load_activatable=load,
        settings=Settings(tick_ms=20, **settings),
        load_activated=load_activated,
    )
    return manager, commands


def activating_manager(gate: asyncio.Event | None = None) -> JobManager:
    """A manager whose `activate_jobs` activates every job it names (once `gate` is set)."""

    async def submit(record: Command) -> Outcome:
        command = to_wire(record)
        if command["type"] == "activate_jobs":
            if gate is not None:
                await gate.wait()
            jobs = [{"key": key, "type": "t"} for key in command["jobKeys"]]
            return Outcome(result={"jobs": jobs})
        return Outcome(result={"released": 0, "more": False})

    async def nothing(*_: Any) -> list[Any]:
        return []

    return JobManager(1, submit=submit, load_activatable=nothing, load_activated=nothing)


def releases(commands: list[dict[str, Any]]) -> list[str]:
    return [c["worker"] for c in commands if c["type"] == "release_jobs" and "jobKeys" not in c]


def test_a_follower_frees_workers_that_ended_once_it_becomes_leader() -> None:
    async def scenario() -> None:
        manager, commands = recording_manager()
        manager.start(is_leader=False)
        try:
            for name in ("gone", "back", "live"):
                manager.subscribe(Sink(name), "t", 1000, 4)
            manager.remove_worker("gone")
            manager.remove_worker("back")
            manager.subscribe(Sink("back"), "t", 1000, 4)  # a relay reconnected: it lives
            await asyncio.sleep(0.05)
            assert releases(commands) == []  # a follower submits nothing
            manager.on_role(True)
            await eventually(lambda: releases(commands), 5, "a release")
            await asyncio.sleep(0.05)
            assert releases(commands) == ["gone"]
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_new_leader_expires_an_earlier_leaders_locks_at_their_deadline() -> None:
    async def scenario() -> None:
        soon = int(time.time() * 1000) + 300
        manager, commands = recording_manager(activated=[(7, "w#1", soon)])
        manager.start(is_leader=True)
        try:
            await asyncio.sleep(0.1)
            assert not [c for c in commands if c["type"] == "timeout_jobs"], "too early"
            await eventually(
                lambda: [c for c in commands if c["type"] == "timeout_jobs"],
                3,
                "timeout_jobs at the loaded deadline (not only at the 30 s sweep)",
            )
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_new_leader_counts_jobs_an_earlier_leader_handed_out_against_the_limit() -> None:
    async def scenario() -> None:
        far = int(time.time() * 1000) + 60_000
        manager, commands = recording_manager(activated=[(7, "w#1", far), (8, "w#1", far)])
        manager.start(is_leader=True)
        try:
            await asyncio.sleep(0.05)  # the activated jobs are read
            manager.subscribe(Sink("w#1"), "t", 1000, 2)
            manager.on_events([{"event": "job_created", "jobKey": 9, "type": "t"}])
            await asyncio.sleep(0.05)
            activations = [c for c in commands if c["type"] == "activate_jobs"]
            assert activations == [], "the worker already holds its limit"
            manager.on_events([{"event": "job_completed", "jobKey": 7, "type": "t"}])
            await eventually(
                lambda: [c for c in commands if c["type"] == "activate_jobs"], 3, "job 9 goes out"
            )
            assert [c["jobKeys"] for c in commands if c["type"] == "activate_jobs"] == [[9]]
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_a_new_leader_hands_out_nothing_before_it_knows_who_holds_what() -> None:
    async def scenario() -> None:
        far = int(time.time() * 1000) + 60_000
        manager, commands = recording_manager(
            activated=[(7, "w#1", far), (8, "w#1", far)],
            activatable=[(9, 0)],
            read_delay_s=0.2,
        )
        manager.start(is_leader=False)
        try:
            manager.subscribe(Sink("w#1"), "t", 1000, 2)
            manager.on_role(True)
            manager.on_events([{"event": "job_created", "jobKey": 10, "type": "t"}])
            await asyncio.sleep(0.5)
            activations = [c for c in commands if c["type"] == "activate_jobs"]
            assert activations == [], "jobs went out to a worker already at its limit"
            assert manager.snapshot()["inFlight"] == 2
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_an_activation_that_commits_after_losing_leadership_is_still_pushed() -> None:
    """The leader balancer moves a leader while an activation is in Raft: it commits, the jobs
    are locked to the worker (the new leader sees them held), so the old manager must push them;
    dropping them left the job with nobody for its whole 30 s lock (a flaky cluster test)."""

    async def scenario() -> None:
        committed = asyncio.Event()  # the role changes while the activation is in flight
        manager = activating_manager(committed)
        manager.start(is_leader=True)
        sink = Sink("w#1")
        try:
            manager.subscribe(sink, "t", 30_000, 4)
            await asyncio.sleep(0.05)
            manager.on_events([{"event": "job_created", "jobKey": 5, "jobType": "t"}])
            await asyncio.sleep(0.05)
            manager.on_role(False)
            committed.set()
            await eventually(lambda: [j["key"] for j in sink.jobs] == [5], 5, "the job pushed")
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_an_earlier_leaders_activation_applied_after_the_new_leader_read_counts() -> None:
    """The flaky cluster test's 5 jobs with a limit of 4, without Raft or timing.

    The balancer moves a leader while the old one's `activate_jobs` (jobs 7, 8 for w#1) is in
    the log but not yet applied on the new leader: the new leader only learns the commit index
    with its own first commit. Its manager reads the activated jobs from its replica before
    that (nothing), then the entry is applied under the new leader: the job_activated events
    are all it ever learns of those two jobs. Ignoring them let the new leader hand w#1 two
    more jobs on top of the two the old leader pushed."""

    async def scenario() -> None:
        manager, commands = recording_manager(activated=[])  # the replica had not applied it
        manager.start(is_leader=False)
        try:
            manager.subscribe(Sink("w#1"), "t", 1000, 2)
            manager.on_role(True)
            await eventually(lambda: manager.snapshot()["leader"], 1, "leading")
            await asyncio.sleep(0.05)  # the (stale) read of activated jobs is done
            # The old term's entry is applied on the new leader now.
            manager.on_events(
                [
                    {"event": "job_activated", "jobKey": k, "type": "t", "worker": "w#1"}
                    for k in (7, 8)
                ]
            )
            manager.on_events([{"event": "job_created", "jobKey": 9, "type": "t"}])
            await asyncio.sleep(0.05)
            activations = [c for c in commands if c["type"] == "activate_jobs"]
            assert activations == [], "job 9 went to a worker already at its limit"
            assert manager.snapshot()["inFlight"] == 2
            manager.on_events([{"event": "job_completed", "jobKey": 8}])
            await eventually(
                lambda: [c for c in commands if c["type"] == "activate_jobs"], 3, "job 9 goes out"
            )
            assert [c["jobKeys"] for c in commands if c["type"] == "activate_jobs"] == [[9]]
        finally:
            await manager.stop()

    asyncio.run(scenario())


def test_local_workers_get_jobs_first_and_remote_ones_when_the_local_ones_are_full() -> None:
    """A job for a worker on another node crosses the job relay and its completion is
    forwarded back: the leader's manager fills its own node's workers first; the remote
    worker gets only what they have no room for, and gets it again as soon as they are full."""

    async def scenario() -> None:
        manager = activating_manager()
        manager.start(is_leader=True)
        remote, local = Sink("remote#1"), Sink("local#1")
        try:
            manager.subscribe(remote, "t", 30_000, 10, local=False)  # first in the rotation
            manager.subscribe(local, "t", 30_000, 2)
            await asyncio.sleep(0.05)
            created = [{"event": "job_created", "jobKey": k, "jobType": "t"} for k in (1, 2, 3)]
            manager.on_events(created)
            await eventually(lambda: len(local.jobs) + len(remote.jobs) == 3, 5, "3 pushes")
            assert [j["key"] for j in local.jobs] == [1, 2]
            assert [j["key"] for j in remote.jobs] == [3]
            manager.on_events([{"event": "job_completed", "jobKey": 1, "jobType": "t"}])
            manager.on_events([{"event": "job_created", "jobKey": 4, "jobType": "t"}])
            await eventually(lambda: len(local.jobs) == 3, 5, "job 4 to the local worker")
            assert [j["key"] for j in local.jobs] == [1, 2, 4]
            stats = manager.snapshot()
            assert (stats["pushed"], stats["pushed_remote"]) == (4, 1)
        finally:
            await manager.stop()

    asyncio.run(scenario())
