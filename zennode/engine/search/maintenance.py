"""Keeping the search rows up to date: `record_instance` when an instance is saved (called by
`state.put_instance`, in the same write transaction as the record) and `forget_instance` when
it is deleted (called by `retention.delete_instance_rows`). Each writes only the rows that
differ from what the instance's previous summary wrote: this runs on every save.

An instance without a summary that this command did not create, on a partition whose rows are
not complete yet, was saved by an older version (`backfill.py`): the backfill, or a command
that moves it before the backfill reached it. Its completed / terminated tallies are then
counted from its element history rows (`ended_tallies`, which include this step's), not from
what this step ended alone, so it gets the same rows either way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import history, records
from zennode.engine.search.layout import (
    NOT_TOKENS,
    Summary,
    counter_row,
    counts,
    display_state,
    entries,
    rows_complete,
    summary_row,
)
from zennode.engine.storage import KVRead, KVWrite

if TYPE_CHECKING:
    from zennode.engine.context import Context

_INCIDENT = "incident"  # runner.EI_INCIDENT (the runner imports this module's users)
_TALLY_SLOTS = {history.COMPLETED: 0, history.TERMINATED: 1}


def get_summary(db: KVRead, key: int) -> Summary | None:
    raw = db.get("index", summary_row(key))
    return records.loads(raw) if raw else None


def record_instance(
    ctx: Context, instance: dict[str, Any], ended: dict[str, list[int]] | None = None
) -> None:
    """The instance is being saved: bring its index entries and counters up to date.

    `ended`: element id -> [completed, terminated] element instances since the last save."""
    key = instance["processInstanceKey"]
    old = get_summary(ctx.db, key)
    if old is None and not ctx.made_key(key) and not rows_complete(ctx.db):
        ended = ended_tallies(ctx.db, key)  # saved by an older version (see above)
    new = _summarize(instance, old, ended or {})
    if new == old:
        return
    _apply(ctx.db, key, old, new)
    ctx.db.put("index", summary_row(key), records.dumps(new))


def ended_tallies(db: KVRead, instance_key: int) -> dict[str, list[int]]:
    """Element id -> [completed, terminated] element instances the instance ended so far, from
    its history rows: the best account of what its saves would have passed as `ended` when
    those were not counted. Close, not always equal: the history records element instances,
    the saves count tokens leaving an element, and a few paths do one without the other (see
    `backfill.py`)."""
    tallies: dict[str, list[int]] = {}
    for item in history.view(db, instance_key):
        slot = _TALLY_SLOTS.get(item["state"])
        if slot is not None and item["elementType"] not in NOT_TOKENS:
            tallies.setdefault(item["elementId"], [0, 0])[slot] += 1
    return tallies


def forget_instance(db: KVWrite, key: int) -> int:
    """The instance is being deleted: remove its entries, take back its counts; rows deleted."""
    old = get_summary(db, key)
    if old is None:
        return 0
    _apply(db, key, old, None)
    db.delete("index", summary_row(key))
    return 1 + len(entries(old, records.u64(key)))


def _summarize(
    instance: dict[str, Any], previous: Summary | None, ended: dict[str, list[int]]
) -> Summary:
    active: dict[str, int] = {}
    incidents: dict[str, int] = {}
    for record in instance["elements"].values():
        element_id = record["elementId"]
        if record["state"] == _INCIDENT:
            incidents[element_id] = incidents.get(element_id, 0) + 1
        if record["elementType"] not in NOT_TOKENS:
            active[element_id] = active.get(element_id, 0) + 1
    tallies = {k: list(v) for k, v in (previous or {}).get("e", {}).items()}
    for element_id, (completed, terminated) in ended.items():
        tally = tallies.setdefault(element_id, [0, 0])
        tally[0] += completed
        tally[1] += terminated
    summary: Summary = {
        "s": display_state(instance),
        "d": instance["processDefinitionKey"],
        "p": instance["bpmnProcessId"],
        "c": instance["createdAt"],
        "a": dict(sorted(active.items())),
        "i": dict(sorted(incidents.items())),
        "e": dict(sorted(tallies.items())),
    }
    if instance.get("businessKey") is not None:
        summary["b"] = instance["businessKey"]
    parent = instance.get("parent")
    if parent:
        summary["r"] = parent["processInstanceKey"]
    return summary


def _add(db: KVWrite, row: bytes, delta: int) -> None:
    raw = db.get("index", row)
    value = (records.from_u64(raw) if raw else 0) + delta
    assert value >= 0, f"search counter {row!r} below zero"
    if value:
        db.put("index", row, records.u64(value))
    elif raw is not None:
        db.delete("index", row)


def _apply(db: KVWrite, key: int, old: Summary | None, new: Summary | None) -> None:
    """Move index entries and counters from what `old` wrote to what `new` needs (only the
    rows that differ are touched)."""
    k = records.u64(key)
    old_rows = entries(old, k) if old else {}
    new_rows = entries(new, k) if new else {}
    for name, row in old_rows.items():
        if new_rows.get(name) != row:
            db.delete("index", row)
    for name, row in new_rows.items():
        if old_rows.get(name) != row:
            db.put("index", row, b"")
    if old and new and old["d"] != new["d"]:  # (an instance never changes its definition)
        raise AssertionError(f"instance {key} changed its definition")
    definition = (new or old or {})["d"]
    old_counts = counts(old) if old else {}
    new_counts = counts(new) if new else {}
    for counter, n in old_counts.items():
        delta = new_counts.get(counter, 0) - n
        if delta:
            _add(db, counter_row(definition, counter), delta)
    for counter, n in new_counts.items():
        if counter not in old_counts:
            _add(db, counter_row(definition, counter), n)
