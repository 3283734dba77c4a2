"""History retention: an ended instance and everything it owns go once its time to live passed.

Why: every ended instance used to stay forever, so state (and the snapshot, and a replica's
rebuild) grew with everything that ever happened. Now an ended *root* instance (no call-activity
parent) is written into a due index when it ends; the leader's retention driver
(`zennode.drivers.retention`) submits `purge_history` with the partition's default time to
live, the leader stamps `now_ms`, and every replica deletes exactly the same instances: the
engine has no clock and no config, what is due follows from the command alone.

Two due indexes (table "index"), so the default can change without rewriting rows:
- `rx\\0 expiresAt(8B) key(8B)`: roots created with their own `historyTtlMs` (due at
  endedAt + ttl, fixed when the instance ends);
- `rd\\0 endedAt(8B) key(8B)`: roots under the partition default (due at endedAt + the
  `defaultTtlMs` the purge command carries).

A child of a call activity goes with its root: `ch\\0 root(8B) child(8B)` lists every
descendant of a root (written when the child starts), and deleting the root deletes them.

`delete_instance_rows` is THE one place that knows what an instance owns. Whoever adds a table
or an index entry that belongs to an instance (e.g. a search index) deletes it there too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import history, records, search, state
from zennode.engine.storage import KVRead

if TYPE_CHECKING:
    from zennode.engine.context import Context

DUE_EXPLICIT_PREFIX = b"rx\0"
DUE_DEFAULT_PREFIX = b"rd\0"
CHILD_PREFIX = b"ch\0"
TTL_FIELD = "historyTtlMs"  # an instance record's own time to live (ms), if it was given


def _due_row(prefix: bytes, at_ms: int, key: int) -> bytes:
    return prefix + records.pair_key(at_ms, key)


def _child_row(root_key: int, child_key: int) -> bytes:
    return CHILD_PREFIX + records.pair_key(root_key, child_key)


# ------------------------------------------------------------------ while instances run


def root_of(instance: dict[str, Any]) -> int:
    """The root instance key of an instance (itself when it has no call-activity parent)."""
    parent = instance.get("parent")
    if not parent:
        return int(instance["processInstanceKey"])
    return int(parent.get("rootKey", parent["processInstanceKey"]))


def register_child(ctx: Context, root_key: int, child_key: int) -> None:
    """A call activity started `child_key` somewhere under `root_key`: it goes with the root."""
    ctx.db.put("index", _child_row(root_key, child_key), b"")


def instance_ended(ctx: Context, instance: dict[str, Any]) -> None:
    """An instance completed or was terminated: a root becomes due for deletion."""
    if instance.get("parent"):
        return  # deleted with its root
    key = int(instance["processInstanceKey"])
    ended = int(instance["endedAt"])
    ttl = instance.get(TTL_FIELD)
    if ttl is None:
        ctx.db.put("index", _due_row(DUE_DEFAULT_PREFIX, ended, key), b"")
    else:
        ctx.db.put("index", _due_row(DUE_EXPLICIT_PREFIX, ended + int(ttl), key), b"")


# ------------------------------------------------------------------ what is due


def due_rows(
    db: KVRead, now_ms: int, default_ttl_ms: int | None, limit: int
) -> list[tuple[int, bytes, int]]:
    """Up to `limit` due roots as (due ms, due row, instance key), earliest first.

    `default_ttl_ms` None: roots under the default are kept (only explicit TTLs expire).
    """
    found: list[tuple[int, bytes, int]] = []
    for row, _ in db.scan("index", DUE_EXPLICIT_PREFIX):
        due = records.from_u64(row[3:11])
        if due > now_ms or len(found) >= limit:
            break
        found.append((due, row, records.from_u64(row[11:19])))
    if default_ttl_ms is not None:
        taken = 0
        for row, _ in db.scan("index", DUE_DEFAULT_PREFIX):
            due = records.from_u64(row[3:11]) + default_ttl_ms
            if due > now_ms or taken >= limit:
                break
            found.append((due, row, records.from_u64(row[11:19])))
            taken += 1
    found.sort()
    return found[:limit]


def next_due(db: KVRead, default_ttl_ms: int | None) -> int | None:
    """When the partition next has an ended instance to delete (two first-key reads)."""
    due = None
    for row, _ in db.scan("index", DUE_EXPLICIT_PREFIX):
        due = records.from_u64(row[3:11])
        break
    if default_ttl_ms is not None:
        for row, _ in db.scan("index", DUE_DEFAULT_PREFIX):
            at = records.from_u64(row[3:11]) + default_ttl_ms
            due = at if due is None else min(due, at)
            break
    return due


# ------------------------------------------------------------------ deleting


def delete_root(ctx: Context, root_key: int) -> int:
    """Delete a root instance, its call-activity descendants and all they own; rows deleted."""
    deleted = 0
    stack = [root_key]
    while stack:  # children are listed under the root; a tree is walked all the same
        key = stack.pop()
        for row, _ in list(ctx.db.scan("index", CHILD_PREFIX + records.u64(key))):
            stack.append(records.second_of_pair(row[3:]))
            ctx.db.delete("index", row)
            deleted += 1
        deleted += delete_instance_rows(ctx, key)
    return deleted


def delete_instance_rows(ctx: Context, instance_key: int) -> int:
    """Delete one instance and every row it owns; the number of rows deleted.

    THE place that knows what an instance owns: its record (variables and element instances
    live inside it), the index entries of its waiting element instances, its timers and
    subscriptions (closed when it ended; closed here for safety), its jobs with their four
    indexes, its incidents with their index, its message-start correlation entry, its
    element history rows (`engine.history`), its rows listing the children it called, its
    search index entries and its share of the statistics counters (`engine/search/`).
    """
    db = ctx.db
    instance = state.get_instance(db, instance_key)
    if instance is None:
        return 0
    deleted = 1
    for key_text, element in instance.get("elements", {}).items():
        db.delete("index", records.element_instance_key(int(key_text)))
        deleted += 1
        if "timers" in element or "subs" in element:
            from zennode.engine.bpmn import waits

            waits.close_waits(ctx, element)
    if "timers" in instance or "subs" in instance:
        from zennode.engine.bpmn import waits

        waits.close_waits(ctx, instance)
    prefix = records.u64(instance_key)
    for row, _ in list(db.scan("jobs_by_instance", prefix)):
        job_key = records.second_of_pair(row)
        job = state.get_job(db, job_key)
        if job is not None:
            db.delete("jobs_by_state", records.job_state_key(job["state"], job["type"], job_key))
            if job.get("deadline") is not None:
                db.delete("jobs_by_deadline", records.pair_key(job["deadline"], job_key))
            if job.get("assignee"):
                db.delete("index", records.job_assignee_key(job["assignee"], job_key))
            db.delete("jobs", records.u64(job_key))
            deleted += 1
        db.delete("jobs_by_instance", row)
        deleted += 1
    for row, _ in list(db.scan("incidents_by_instance", prefix)):
        db.delete("incidents", records.u64(records.second_of_pair(row)))
        db.delete("incidents_by_instance", row)
        deleted += 2
    for table_prefix in (history.PREFIX, records.CHILD_OF_PREFIX):
        for row, _ in list(db.scan("index", table_prefix + prefix)):
            db.delete("index", row)
            deleted += 1
    correlation = instance.get("startCorrelationKey")
    if correlation:
        started = records.message_started_key(instance["bpmnProcessId"], correlation)
        if db.get("index", started) == records.u64(instance_key):
            db.delete("index", started)
    deleted += search.forget_instance(db, instance_key)
    db.delete("instances", records.u64(instance_key))
    return deleted


# ------------------------------------------------------------------ the TTL text

_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}
TTL_TEXT_CHARS_MAX = 64


def parse_ttl(text: str) -> int:
    """A history time to live in ms from its text: an ISO 8601 duration (`P30D`, `PT12H`),
    ZenBPM's short form (`30d`, also `12h`, `15m`, `90s`) or `0` (delete once it ended).
    BadRequest for anything else."""
    from zennode.engine.expressions import ExpressionFailed
    from zennode.engine.timers import DUE_MS_MAX, duration_ms
    from zennode.errors import BadRequest

    value = text.strip() if isinstance(text, str) else ""
    if not value or len(value) > TTL_TEXT_CHARS_MAX:
        raise BadRequest(f"historyTimeToLive must be a duration like '30d' or 'P30D', got {text!r}")
    if value == "0":
        return 0
    unit = _UNIT_MS.get(value[-1].lower())
    if unit is not None and value[:-1].isdigit():
        ms = int(value[:-1]) * unit
        if ms > DUE_MS_MAX:  # as an ISO duration it would leave the calendar, see timers.py
            raise BadRequest(f"historyTimeToLive {text!r} is longer than the calendar")
        return ms
    if value[0] in "Pp":
        try:
            return duration_ms(value.upper(), 0)
        except (ExpressionFailed, ValueError, OverflowError) as exc:
            raise BadRequest(f"historyTimeToLive {text!r}: {exc}") from exc
    raise BadRequest(f"historyTimeToLive must be a duration like '30d' or 'P30D', got {text!r}")
