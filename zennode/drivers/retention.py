"""Leader-side history retention driver: deletes ended instances whose time to live passed.

On every partition this node leads, one task reads when the next ended instance is due (two
first-key reads on the local replica) and, once it is, submits `purge_history` with the
configured default time to live. Each command deletes a bounded chunk (`purge_chunk` root
instances with all they own) and says whether `more` is due; the driver sends the next chunk
as a new command, so deletion never becomes one huge batch and commands of clients are
batched in between. The leader stamps `now_ms`: every replica deletes the same instances.
"""

from __future__ import annotations

import asyncio
import logging
import time

from zennode.cluster.client import ClusterClient
from zennode.drivers.leader import LeaderDriver
from zennode.engine.commands import PurgeHistory

log = logging.getLogger(__name__)

CHUNKS_PER_WAKE_MAX = 100  # purge commands in a row while more is due


class RetentionDriver(LeaderDriver):
    name = "retention"

    def __init__(
        self, cluster: ClusterClient, default_ttl_ms: int, poll_s: float, chunk: int
    ) -> None:
        super().__init__(cluster, poll_s)
        self.default_ttl_ms = default_ttl_ms
        self.chunk = chunk
        self.deleted = 0  # root instances this node's leaders deleted (for tests and metrics)

    def _due(self, partition_id: int) -> bool:
        if not self.cluster.leads(partition_id):
            return False
        due = self.cluster.read_replica(
            partition_id, "next_purge_due", default_ttl_ms=self.default_ttl_ms
        )
        return due is not None and due <= time.time() * 1000

    async def round(self, partition_id: int) -> None:
        chunks = 0
        while self._due(partition_id) and chunks < CHUNKS_PER_WAKE_MAX:
            chunks += 1
            command = PurgeHistory(default_ttl_ms=self.default_ttl_ms, limit=self.chunk)
            outcome = await self.cluster.submit(partition_id, command)
            if outcome.error is not None:
                log.warning("partition %s: purge_history: %s", partition_id, outcome.error)
                return
            result = outcome.result or {}
            self.deleted += int(result.get("deleted", 0))
            if not result.get("more"):
                return
            await asyncio.sleep(0)  # let other work of the loop run between chunks
