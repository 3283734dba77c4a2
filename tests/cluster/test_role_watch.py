"""The node's role watcher (`Cluster._watch_roles`): role listeners hear of every term of
leadership a local replica starts or ends — also when the replica lost leadership and won it
back between two polls, which a watcher comparing only `is_leader` never sees.

No Raft here: a stub replica whose leadership epoch the test sets (what `Partition` reports),
so "lost and regained within one poll" is exact, not a race to win.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from support.waits import eventually

from zennode.cluster.client import Cluster
from zennode.config import default_config

pytestmark = pytest.mark.timeout(30)
WAIT_S = 5.0


class StubReplica:
    """What the watcher reads of a `Partition`: `leader_epoch` (None: not leading) and the
    matching `is_leader`."""

    def __init__(self) -> None:
        self.leader_epoch: int | None = None

    @property
    def is_leader(self) -> bool:
        return self.leader_epoch is not None

    def stop(self) -> None:
        pass


def test_listeners_hear_every_term_also_one_lost_and_regained_between_two_polls() -> None:
    async def scenario() -> list[tuple[int, bool]]:
        cluster = Cluster(replace(default_config(), partitions=1))
        replica = StubReplica()
        cluster.local_partitions = {1: replica}
        heard: list[tuple[int, bool]] = []
        cluster.add_role_listener(lambda pid, leader: heard.append((pid, leader)))

        async def after(step: list[tuple[int, bool]]) -> None:
            await eventually(lambda: len(heard) >= len(step), WAIT_S, f"role reports {step}")

        await cluster.start()
        try:
            await after([(1, False)])  # the first look reports the role as it is
            replica.leader_epoch = 1  # wins an election
            await after([(1, False), (1, True)])
            # Loses it and wins the next election before the watcher looks again: the same
            # `is_leader`, a new term. Listeners must drop what the earlier term left them.
            replica.leader_epoch = 2
            await after([(1, False), (1, True), (1, False), (1, True)])
            replica.leader_epoch = None  # steps down for good
            await after([(1, False), (1, True), (1, False), (1, True), (1, False)])
            await asyncio.sleep(0.2)  # several more polls: nothing new to report
        finally:
            await cluster.stop()
        return heard

    heard = asyncio.run(scenario())
    assert heard == [(1, False), (1, True), (1, False), (1, True), (1, False)]
