"""Leader balancing: each partition's leadership goes back to its preferred replica.

Raft elects whichever replica times out first, so after a start (or a failover) one node often
leads every partition and does all the leader work (batching, apply, events, job pushes) on
its one core while the others idle. The preferred leader of partition p is the first member of
its placement (`Config.replicas_of(p)[0]`), which spreads leaders evenly when P is a multiple of
the number of nodes. A leader that is not the preferred replica, has led for at least
`STABLE_S`, and sees the preferred node up, asks PySyncObj to hand leadership over (Raft
TimeoutNow). PySyncObj refuses unless the target is fully caught up, so this is retried every
`INTERVAL_S` until it happens; commands queued at that moment fail as `NotCommitted` and are
retried by the router.

PySyncObj is not thread-safe, so the transfer is started from the partition's own tick thread
through an on-tick callback that picks up a request left for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zennode.cluster.client import Cluster

log = logging.getLogger("zennode.cluster.balancer")

INTERVAL_S = 2.0
STABLE_S = 5.0


class LeaderBalancer:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._requests: dict[int, str] = {}  # partition -> Raft address to hand leadership to
        self._leading_since: dict[int, float] = {}
        self._hooked: set[int] = set()
        self.transfers_requested = 0

    def _hook(self, partition_id: int, partition: Any) -> None:
        group = getattr(partition, "_group", None)
        if group is None or not hasattr(group, "transferLeadership"):
            return  # a stand-in partition (tests) or an older PySyncObj: nothing to balance

        def on_tick() -> None:
            target = self._requests.pop(partition_id, None)
            if target is not None and group._isLeader():
                group.transferLeadership(target)

        group.addOnTickCallback(on_tick)
        self._hooked.add(partition_id)

    def check(self) -> None:
        """One pass over the local partitions (on the node's loop)."""
        config = self.cluster.config
        now = time.monotonic()
        for pid, partition in list(self.cluster.local_partitions.items()):
            if pid not in self._hooked:
                self._hook(pid, partition)
            if not partition.is_leader:
                self._leading_since.pop(pid, None)
                continue
            since = self._leading_since.setdefault(pid, now)
            preferred = config.replicas_of(pid)[0]
            if preferred == config.node_id or now - since < STABLE_S:
                continue
            if not self.cluster.router.is_up(preferred):
                continue
            member = next(m for m in config.members if m.id == preferred)
            self._requests[pid] = f"{member.host}:{member.ports.raft(pid)}"
            self.transfers_requested += 1
            log.debug("partition %s: handing leadership to its preferred node %s", pid, preferred)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            try:
                self.check()
            except Exception:  # noqa: BLE001 - balancing is an optimisation, never fatal
                log.exception("leader balancing failed")
