"""Leader-side BPMN timer driver: fires due timers and expires buffered messages, as commands.

The engine has no clock. On every partition this node leads, one task polls the local
replica for its next wake-up (earliest timer or message expiry, a cheap first-key read) and,
once it is due, submits `trigger_timers`; the leader stamps the command's `now_ms`, so the
engine fires exactly what is due at that time, and every replica applies the same result.
A timer that fell due while there was no leader fires when a leader returns (once: firing
deletes it in the same command).
"""

from __future__ import annotations

import asyncio
import logging
import time

from zennode.cluster.client import ClusterClient
from zennode.engine.commands import TriggerTimers

log = logging.getLogger(__name__)

POLL_S = 0.1  # wake-up check interval: timers fire within about this (plus a commit)
ERROR_BACKOFF_S = 1.0
ROUNDS_PER_WAKE_MAX = 100  # trigger commands in a row while more is due (1000 timers each)


class TimerDriver:
    """Registers itself as a role listener of the cluster; `await stop()` on shutdown."""

    def __init__(self, cluster: ClusterClient, poll_s: float = POLL_S) -> None:
        self.cluster = cluster
        self.poll_s = poll_s
        self._tasks: dict[int, asyncio.Task[None]] = {}
        cluster.add_role_listener(self.on_role)

    def on_role(self, partition_id: int, is_leader: bool) -> None:
        """Called on the node's loop when a local replica gains or loses leadership."""
        task = self._tasks.pop(partition_id, None)
        if task is not None:
            task.cancel()
        if is_leader:
            self._tasks[partition_id] = asyncio.get_running_loop().create_task(
                self._drive(partition_id), name=f"timers-{partition_id}"
            )

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass

    def _due(self, partition_id: int) -> bool:
        if not self.cluster.leads(partition_id):
            return False
        wake = self.cluster.read_replica(partition_id, "next_wakeup")
        return wake is not None and wake <= time.time() * 1000

    async def _drive(self, partition_id: int) -> None:
        while True:
            try:
                rounds = 0
                while self._due(partition_id) and rounds < ROUNDS_PER_WAKE_MAX:
                    rounds += 1
                    outcome = await self.cluster.submit(partition_id, TriggerTimers())
                    if outcome.error is not None:
                        log.warning("partition %s: trigger_timers: %s", partition_id, outcome.error)
                        break
                await asyncio.sleep(self.poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - no leader for a moment, shutting down
                log.debug("partition %s: timer driver: %s", partition_id, exc)
                await asyncio.sleep(ERROR_BACKOFF_S)
