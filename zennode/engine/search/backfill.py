"""The search rows of instances saved before search existed: a one-time, bounded migration.

Why: the summary, index entries and statistics counters (see the package docstring) are written
when an instance is saved. A partition whose instances were saved by a zennode version from
before them has none for those instances: search does not find them and the statistics leave
them out. The backfill writes them, once, for every instance that has no summary row.

How a partition tells old data from new: the `meta` row `layout.FORMAT_KEY` says every instance
it holds has its search rows. It is written only inside replicated commands (a row written
beside the Raft log would be missing on a replica that replays the log from its start, and the
replicas would then answer the same command differently): by any command applied while the
partition holds no instance at all (`mark_if_new`, from `Engine.apply`: nothing to backfill, so
a new partition never needs a `backfill_search` command, which the leader would otherwise submit
at start, beside the first clients' commands), or by the backfill's last chunk. While it is
missing on a partition that holds instances, the partition leader's driver
(`zennode.drivers.backfill`) submits `backfill_search` commands; each scans at most `limit`
instances in key order from the cursor row `CURSOR_KEY`, gives each one without a summary the
rows `maintenance.record_instance` writes when an instance is saved, and moves the cursor. The
scan ends at the last key the partition had made when the first chunk ran (kept in the cursor
row): every instance created after that was saved by this code with its rows, so new instances
never extend the scan and it ends under any load. The last chunk deletes the cursor and writes
the marker. Cursor and marker are replicated rows (in the digest like any other), so the work
goes on where it stopped after a restart or a leader change, and every replica writes exactly
the same rows.

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
from zennode.engine.storage import KVRead, KVWrite

if TYPE_CHECKING:
    from zennode.engine.context import Context

# Table "meta": [the last instance key the backfill did (None: none yet), the last key it does].
CURSOR_KEY = b"search_backfill_cursor"


def backfill(ctx: Context, limit: int) -> dict[str, Any]:
    """Give the next `limit` instances (key order, from the cursor, up to the end key) that lack
    them their search rows: `{scanned, migrated, more}`. Nothing to do once the partition's rows
    are complete."""
    db = ctx.db
    if rows_complete(db):
        return {"scanned": 0, "migrated": 0, "more": False}
    raw = db.get("meta", CURSOR_KEY)
    if raw:
        done, end = records.loads(raw)
    else:  # the first chunk: the instances there are now, every later one has its rows
        done, end = None, ctx.last_key()
    start = records.u64(done + 1) if done is not None else None
    scanned = migrated = 0
    more = False
    for key_bytes, value in db.scan("instances", start=start):
        key = records.from_u64(key_bytes)
        if key > end:
            break
        if scanned == limit:
            more = True
            break
        scanned += 1
        done = key
        if get_summary(db, key) is None:
            record_instance(ctx, records.loads(value))  # tallies from history (not complete)
            migrated += 1
    if more:
        db.put("meta", CURSOR_KEY, records.dumps([done, end]))
    else:
        db.delete("meta", CURSOR_KEY)
        db.put("meta", FORMAT_KEY, records.u64(FORMAT))
    return {"scanned": scanned, "migrated": migrated, "more": more}


def mark_if_new(db: KVWrite) -> None:
    """Mark a partition that holds no instance as complete (in the command being applied): every
    instance it will hold is saved by this code, with its rows. One `get` per command once
    marked."""
    if not rows_complete(db) and not _holds_instances(db):
        db.put("meta", FORMAT_KEY, records.u64(FORMAT))


def status(db: KVRead) -> str:
    """For the leader's driver: "done" (marked), "due" (instances wait for the backfill) or
    "new" (no instance yet: the next command of any kind marks it, no backfill command needed)."""
    if rows_complete(db):
        return "done"
    return "due" if _holds_instances(db) else "new"


def _holds_instances(db: KVRead) -> bool:
    return next(db.scan("instances"), None) is not None
