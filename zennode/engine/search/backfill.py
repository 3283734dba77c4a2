"""The search rows of instances saved before search existed: a one-time, bounded migration.

Why: the summary, index entries and statistics counters (see the package docstring) are written
when an instance is saved. A partition whose instances were saved by a zennode version from
before them has none for those instances: search does not find them and the statistics leave
them out. The backfill writes them, once, for every instance that has no summary row.

How a partition tells old data from new: the `meta` row `layout.FORMAT_KEY` says every instance
it holds has its search rows. A replica whose store is new (nothing applied yet) writes it
before its first command (`mark_current`, through `Engine.init_state`), so a new partition never
scans; a store written by an older version lacks it. While it is missing, the partition
leader's driver (`zennode.drivers.backfill`) submits `backfill_search` commands; each scans at
most `limit` instances in key order from the cursor row `CURSOR_KEY`, gives each one without a
summary the rows `maintenance.record_instance` writes when an instance is saved, and moves the
cursor. The last chunk deletes the cursor and writes the marker. Cursor and marker are
replicated rows (in the digest like any other), so the work goes on where it stopped after a
restart or a leader change, and every replica writes exactly the same rows.

The rows are the normal write path's (`record_instance` itself), from the instance's current
record: state, tokens, open incidents, business key, parent, so search, totals and the instance
and active / incident counters are exactly what they would have been. The completed /
terminated tallies per element (the summary's `e`, the `c` / `t` statistics) are counted on a
save from what that step ended, which the record does not keep; the backfill counts them from
the instance's element history rows (`maintenance.ended_tallies`). That is exact for tasks,
events, sub-processes and multi-instance runs, but the two count differently where a gateway
takes its flows itself (exclusive / inclusive forks, event-based gateways) and at terminate
and error end events (history says completed, the saves do not count them), and for the
catch event an event-based gateway continues at (counted, no history entry of its own). An
instance saved before the history rows existed, or whose history was cut at
`history.ENTRIES_MAX`, gets the tallies its history holds (none, or fewer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records
from zennode.engine.search.layout import FORMAT, FORMAT_KEY, rows_complete
from zennode.engine.search.maintenance import get_summary, record_instance
from zennode.engine.storage import KVWrite

if TYPE_CHECKING:
    from zennode.engine.context import Context

CURSOR_KEY = b"search_backfill_cursor"  # table "meta": the last instance key the backfill did


def mark_current(db: KVWrite) -> None:
    """A new store: every instance it will hold is saved with its search rows."""
    db.put("meta", FORMAT_KEY, records.u64(FORMAT))


def backfill(ctx: Context, limit: int) -> dict[str, Any]:
    """Give the next `limit` instances (key order, from the cursor) that lack them their search
    rows: `{scanned, migrated, more}`. Nothing to do once the partition's rows are complete."""
    db = ctx.db
    if rows_complete(db):
        return {"scanned": 0, "migrated": 0, "more": False}
    raw = db.get("meta", CURSOR_KEY)
    start = records.u64(records.from_u64(raw) + 1) if raw else None
    scanned = migrated = 0
    last: bytes | None = None
    more = False
    for key_bytes, value in db.scan("instances", start=start):
        if scanned == limit:
            more = True
            break
        scanned += 1
        last = key_bytes
        if get_summary(db, records.from_u64(key_bytes)) is None:
            record_instance(ctx, records.loads(value))  # tallies from history (not complete)
            migrated += 1
    if more:
        assert last is not None
        db.put("meta", CURSOR_KEY, last)
    else:
        db.delete("meta", CURSOR_KEY)
        mark_current(db)
    return {"scanned": scanned, "migrated": migrated, "more": more}
