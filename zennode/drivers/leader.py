"""The shared loop of leader-side drivers: one task per partition this node leads.

A driver (timers, retention) does something on a clock that only the partition leader may do:
it submits a command. `LeaderDriver` starts a task when a local replica becomes leader, cancels
it when it stops leading, and runs the driver's `round(partition_id)` every `poll_s`; a round
that fails (no leader for a moment, shutting down) is retried after a back-off.
"""

from __future__ import annotations

import asyncio
import logging

from zennode.cluster.client import ClusterClient

log = logging.getLogger(__name__)

ERROR_BACKOFF_S = 1.0


class LeaderDriver:
    """Registers itself as a role listener of the cluster; `await stop()` on shutdown."""

    name = "driver"

    def __init__(self, cluster: ClusterClient, poll_s: float) -> None:
        self.cluster = cluster
        self.poll_s = poll_s
        self._tasks: dict[int, asyncio.Task[None]] = {}
        cluster.add_role_listener(self.on_role)

    async def round(self, partition_id: int) -> None:
        """One wake-up on a partition this node leads (subclasses)."""
        raise NotImplementedError

    def on_role(self, partition_id: int, is_leader: bool) -> None:
        """Called on the node's loop when a local replica gains or loses leadership."""
        task = self._tasks.pop(partition_id, None)
        if task is not None:
            task.cancel()
        if is_leader:
            self._tasks[partition_id] = asyncio.get_running_loop().create_task(
                self._drive(partition_id), name=f"{self.name}-{partition_id}"
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

    async def _drive(self, partition_id: int) -> None:
        while True:
            try:
                await self.round(partition_id)
                await asyncio.sleep(self.poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - no leader for a moment, shutting down
                log.debug("partition %s: %s driver: %s", partition_id, self.name, exc)
                await asyncio.sleep(ERROR_BACKOFF_S)
