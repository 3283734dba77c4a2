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
        self.deleted = 0  # root instances this node's leaders deleted (for tests)
        self.deleted_by_partition: dict[int, int] = {}  # the same per partition, for /metrics
        self.next_due_ms: dict[int, int | None] = {}  # last read per led partition, for /metrics

    def _due(self, partition_id: int) -> bool:
        if not self.cluster.leads(partition_id):
            return False
        due = self.cluster.read_replica(
            partition_id, "next_purge_due", default_ttl_ms=self.default_ttl_ms
        )
        self.next_due_ms[partition_id] = due
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
            deleted = int(result.get("deleted", 0))
            self.deleted += deleted
            self.deleted_by_partition[partition_id] = (
                self.deleted_by_partition.get(partition_id, 0) + deleted
            )
            if not result.get("more"):
                return
            await asyncio.sleep(0)  # let other work of the loop run between chunks

    def stats(self) -> dict[int, tuple[int, float | None]]:
        """Per partition: (root instances deleted by this node's leaders, seconds the oldest
        due instance has waited past its time to live: 0 when none is due, None where this
        node does not lead). From what `round` last saw: no LMDB read on the scrape path."""
        now_ms = time.time() * 1000
        out: dict[int, tuple[int, float | None]] = {}
        for pid in sorted(set(self.deleted_by_partition) | set(self.next_due_ms)):
            overdue_s: float | None = None
            if self.cluster.leads(pid):
                due = self.next_due_ms.get(pid)
                overdue_s = max(0.0, (now_ms - due) / 1000) if due is not None else 0.0
            out[pid] = (self.deleted_by_partition.get(pid, 0), overdue_s)
        return out
