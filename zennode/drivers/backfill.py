"""Leader-side search backfill driver: gives old instances their search rows, once.

A partition whose state was written by a zennode version from before the search rows lacks
them for its instances (`zennode.engine.search.backfill`). On every partition this node leads,
one task reads whether the partition is done (one `get` on the local replica) and, while it is
not, submits `backfill_search` commands of `chunk` instances each until one says nothing more
is left, so the migration never becomes one huge batch and clients' commands are batched in
between. Where it stopped is a replicated cursor: a new leader goes on from there. A partition
without instances (a new one) gets no command from here: the first command it applies marks it
(`backfill.mark_if_new`), and until then the task only looks every `poll_s`. Once a partition is
done, the task only remembers that and the partition is never read for it
again by this node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from zennode.cluster.client import ClusterClient
from zennode.drivers.leader import LeaderDriver
from zennode.engine.commands import BackfillSearch
from zennode.engine.commands.wire import BACKFILL_LIMIT_DEFAULT

log = logging.getLogger(__name__)

POLL_S = 5.0  # a partition not done whose round failed is tried again after this


class SearchBackfillDriver(LeaderDriver):
    name = "search-backfill"

    def __init__(
        self,
        cluster: ClusterClient,
        poll_s: float = POLL_S,
        chunk: int = BACKFILL_LIMIT_DEFAULT,
        on_migrated: Callable[[int, int], None] | None = None,
    ) -> None:
        """`on_migrated(partition_id, instances)` after each chunk that gave instances rows."""
        super().__init__(cluster, poll_s)
        self.chunk = chunk
        self.on_migrated = on_migrated
        self.done: set[int] = set()  # partitions known to be done (it never goes back)
        self.migrated: dict[int, int] = {}  # instances given rows by this node's leaders
        self.commands: dict[int, int] = {}  # backfill_search commands this node submitted

    async def round(self, partition_id: int) -> None:
        if partition_id in self.done or not self.cluster.leads(partition_id):
            return
        status = self.cluster.read_replica(partition_id, "search_backfill_status")
        if status == "done":
            self.done.add(partition_id)
            return
        if status == "new":
            return  # no instance yet: the partition's next command marks it, look again later
        log.info(
            "partition %s: search backfill of instances saved before search started", partition_id
        )
        while True:
            self.commands[partition_id] = self.commands.get(partition_id, 0) + 1
            outcome = await self.cluster.submit(partition_id, BackfillSearch(limit=self.chunk))
            if outcome.error is not None:
                log.warning("partition %s: backfill_search: %s", partition_id, outcome.error)
                return
            result = outcome.result or {}
            migrated = int(result.get("migrated", 0))
            if migrated:
                self.migrated[partition_id] = self.migrated.get(partition_id, 0) + migrated
                if self.on_migrated is not None:
                    self.on_migrated(partition_id, migrated)
            if not result.get("more"):
                break
            await asyncio.sleep(0)  # let other work of the loop run between chunks
        self.done.add(partition_id)
        log.info(
            "partition %s: search backfill done: %d instances given search rows by this node",
            partition_id,
            self.migrated.get(partition_id, 0),
        )
