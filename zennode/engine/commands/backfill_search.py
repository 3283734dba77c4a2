"""backfill_search {limit?} -> {scanned, migrated, more}

Gives the instances a zennode version from before the search rows saved their summary, index
entries and statistics counters: the next `limit` instances in key order from the partition's
cursor (see `zennode.engine.search.backfill`). Once the partition is done it does nothing. The
leader's backfill driver submits it in chunks while `more` is true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine.context import Context
from zennode.engine.search import backfill

if TYPE_CHECKING:
    from zennode.engine.commands.wire import BackfillSearch


def backfill_search(ctx: Context, cmd: BackfillSearch) -> dict[str, Any]:
    return backfill.backfill(ctx, cmd.limit)
