"""purge_history {defaultTtlMs?, limit?} -> {deleted, rows, more, nextDue}

Deletes ended root instances whose history time to live passed at the command's `now_ms`,
earliest due first, at most `limit` roots (each with its call-activity descendants and every
row they own, see `zennode.engine.retention`). `defaultTtlMs` is the partition default for
instances created without their own `historyTtlMs`; without it only those with their own expire.
The leader's retention driver submits it in chunks while `more` is true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import retention
from zennode.engine.context import Context

if TYPE_CHECKING:
    from zennode.engine.commands.wire import PurgeHistory


def purge_history(ctx: Context, cmd: PurgeHistory) -> dict[str, Any]:
    due = retention.due_rows(ctx.db, ctx.now_ms, cmd.default_ttl_ms, cmd.limit + 1)
    more = len(due) > cmd.limit
    rows = 0
    deleted = 0
    for _, due_row, key in due[: cmd.limit]:
        rows += retention.delete_root(ctx, key)
        ctx.db.delete("index", due_row)
        deleted += 1
    return {
        "deleted": deleted,
        "rows": rows,
        "more": more,
        "nextDue": retention.next_due(ctx.db, cmd.default_ttl_ms),
    }
