"""Leader-side BPMN timer driver: fires due timers and expires buffered messages, as commands.

The engine has no clock. On every partition this node leads, one task polls the local
replica for its next wake-up (earliest timer or message expiry, a cheap first-key read) and,
once it is due, submits `trigger_timers`; the leader stamps the command's `now_ms`, so the
engine fires exactly what is due at that time, and every replica applies the same result.
A timer that fell due while there was no leader fires when a leader returns (once: firing
deletes it in the same command).
"""

from __future__ import annotations

import logging
import time

from zennode.cluster.client import ClusterClient
from zennode.drivers.leader import LeaderDriver
from zennode.engine.commands import TriggerTimers

log = logging.getLogger(__name__)

POLL_S = 0.1  # wake-up check interval: timers fire within about this (plus a commit)
ROUNDS_PER_WAKE_MAX = 100  # trigger commands in a row while more is due (1000 timers each)


class TimerDriver(LeaderDriver):
    name = "timers"

    def __init__(self, cluster: ClusterClient, poll_s: float = POLL_S) -> None:
        super().__init__(cluster, poll_s)

    def _due(self, partition_id: int) -> bool:
        if not self.cluster.leads(partition_id):
            return False
        wake = self.cluster.read_replica(partition_id, "next_wakeup")
        return wake is not None and wake <= time.time() * 1000

    async def round(self, partition_id: int) -> None:
        rounds = 0
        while self._due(partition_id) and rounds < ROUNDS_PER_WAKE_MAX:
            rounds += 1
            outcome = await self.cluster.submit(partition_id, TriggerTimers())
            if outcome.error is not None:
                log.warning("partition %s: trigger_timers: %s", partition_id, outcome.error)
                break
