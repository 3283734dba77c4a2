"""What an instance did: every element instance with its start, end and end state, kept until
the instance is deleted.

Why: an instance record holds only the element instances that still wait, so once a task
completed nothing said it ever ran. Now the runner notes, while a command moves an instance,
every element instance that starts (also an element a token passes without waiting: a
gateway, a start or end event, a script task, which gets its own key and starts and ends at
once) and every one that ends (`completed` or `terminated`), and `Runner.save` writes the
notes of that step as ONE row of table "index": `eh\\0 instance(8B) seq(8B)` -> a JSON list of
entries, `seq` counting the instance's rows. One row per step, not one per element: every
put costs a hash of the running state digest, and a row per element made the engine ~25%
slower on a plain process.

`view` folds the rows into one item per element instance (`started` entry, then its `ended`
entry) in key order, which is start order (keys grow on a partition; a passed element gets its
key once the token left it). `retention.delete_instance_rows` deletes the rows with the
instance. Bounded: an instance records at most `ENTRIES_MAX` entries (a loop through a timer
runs forever); past it nothing more is recorded and the view says `truncated`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records
from zennode.engine.storage import KVRead

if TYPE_CHECKING:
    from zennode.engine.context import Context

PREFIX = b"eh\0"
ENTRIES_MAX = 20_000
COUNT_FIELD = "historyEntries"  # entries an instance recorded (the bound)
SEQ_FIELD = "historyRows"  # rows it wrote (the next row's seq)

ACTIVE = "active"
COMPLETED = "completed"
TERMINATED = "terminated"

# An entry: [key, elementId, elementType, scopeKey, at] (started; + state when it also ended)
# or [key, state, at] (ended).
Entry = list[Any]


def started(
    notes: list[Entry], key: int, record: dict[str, Any], at: int, ended: str | None = None
) -> None:
    """Element instance `key` (its `record`: elementId, elementType, scope) started at `at`;
    `ended` given: it also ended then (an element the token passed)."""
    entry: Entry = [key, record["elementId"], record["elementType"], record["scope"], at]
    if ended is not None:
        entry.append(ended)
    notes.append(entry)


def ended(notes: list[Entry], key: int, end_state: str, at: int) -> None:
    notes.append([key, end_state, at])


def flush(ctx: Context, instance: dict[str, Any], notes: list[Entry]) -> None:
    """Write the notes of this step as one row of the instance (and empty `notes`)."""
    if not notes:
        return
    count = instance.get(COUNT_FIELD, 0)
    room = ENTRIES_MAX - count
    if room > 0:
        kept = notes[:room]
        seq = instance.get(SEQ_FIELD, 0)
        instance[SEQ_FIELD] = seq + 1
        instance[COUNT_FIELD] = count + len(kept)
        row = PREFIX + records.pair_key(instance["processInstanceKey"], seq)
        ctx.db.put("index", row, records.dumps(kept))
    notes.clear()


def view(db: KVRead, instance_key: int) -> list[dict[str, Any]]:
    """One item per recorded element instance, in start (key) order."""
    items: dict[int, dict[str, Any]] = {}
    for _, raw in db.scan("index", PREFIX + records.u64(instance_key)):
        for entry in records.loads(raw):
            if len(entry) == 3:
                item = items.get(entry[0])
                if item is not None:
                    item["state"] = entry[1]
                    item["endedAt"] = entry[2]
                continue
            key, element_id, element_type, scope, at = entry[:5]
            item = {
                "key": key,
                "processInstanceKey": instance_key,
                "elementId": element_id,
                "elementType": element_type,
                "scopeKey": scope,
                "state": entry[5] if len(entry) > 5 else ACTIVE,
                "createdAt": at,
            }
            if len(entry) > 5:
                item["endedAt"] = at
            items[key] = item
    return [items[k] for k in sorted(items)]


def is_truncated(instance: dict[str, Any]) -> bool:
    return int(instance.get(COUNT_FIELD, 0)) >= ENTRIES_MAX
