"""What an instance did: one row per element instance, kept until the instance is deleted.

Why: an instance record holds only the element instances that still wait, so once a task
completed nothing said it ever ran. Every element instance now leaves a row in table "index",
`eh\\0 instance(8B) element instance(8B)` -> {elementId, elementType, scopeKey, state,
createdAt, endedAt?}, written in the command that starts it and updated in the one that ends it
(state `active`, then `completed` or `terminated`). An element a token passes without waiting
(a gateway, a start or end event, a script task) gets its own key and a row that starts and
ends at once. Keys grow with every element instance on a partition, so key order is start
order. `retention.delete_instance_rows` deletes the rows with the instance.

Bounded: an instance keeps at most `ROWS_MAX` rows (a loop through a timer runs forever);
past it, new element instances are not recorded and the query says `truncated`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from zennode.engine import records
from zennode.engine.storage import KVRead

if TYPE_CHECKING:
    from zennode.engine.context import Context

PREFIX = b"eh\0"
ROWS_MAX = 10_000
COUNT_FIELD = "historyRows"  # rows an instance record has written

ACTIVE = "active"
COMPLETED = "completed"
TERMINATED = "terminated"


def row_key(instance_key: int, key: int) -> bytes:
    return PREFIX + records.pair_key(instance_key, key)


def started(
    ctx: Context,
    instance: dict[str, Any],
    key: int,
    record: dict[str, Any],
    ended: str | None = None,
) -> None:
    """Element instance `key` (its `record`: elementId, elementType, scope) started now;
    `ended` given: it also ended in the same step (an element the token passed)."""
    count = instance.get(COUNT_FIELD, 0)
    if count >= ROWS_MAX:
        return
    instance[COUNT_FIELD] = count + 1
    row: dict[str, Any] = {
        "elementId": record["elementId"],
        "elementType": record["elementType"],
        "scopeKey": record["scope"],
        "state": ended or ACTIVE,
        "createdAt": ctx.now_ms,
    }
    if ended is not None:
        row["endedAt"] = ctx.now_ms
    ctx.db.put("index", row_key(instance["processInstanceKey"], key), records.dumps(row))


def ended(ctx: Context, instance_key: int, key: int, end_state: str) -> None:
    """Element instance `key` completed or was terminated (nothing if it was not recorded)."""
    row_id = row_key(instance_key, key)
    raw = ctx.db.get("index", row_id)
    if raw is None:
        return
    row = records.loads(raw)
    row["state"] = end_state
    row["endedAt"] = ctx.now_ms
    ctx.db.put("index", row_id, records.dumps(row))


def rows(db: KVRead, instance_key: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(element instance key, row) of an instance in start order (an iterator)."""
    for raw_key, raw in db.scan("index", PREFIX + records.u64(instance_key)):
        yield records.second_of_pair(raw_key[len(PREFIX) :]), records.loads(raw)


def is_truncated(instance: dict[str, Any]) -> bool:
    return int(instance.get(COUNT_FIELD, 0)) >= ROWS_MAX
