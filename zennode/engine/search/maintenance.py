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
    SCALAR_FIELDS,
    Summary,
    counter_row,
    display_state,
    element_entry,
    entries,
    rows_complete,
    scalar_entry,
    summary_row,
)
from zennode.engine.storage import KVRead, KVWrite

if TYPE_CHECKING:
    from zennode.engine.context import Context

_INCIDENT = "incident"  # runner.EI_INCIDENT (the runner imports this module's users)
_NOTHING: Summary = {"a": {}, "i": {}, "e": {}}  # what no summary writes: no rows, no counts
_NO_TALLY = [0, 0]  # an element's [completed, terminated] before its first end
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
    row = summary_row(key)
    raw = ctx.db.get("index", row)
    old = records.loads(raw) if raw else None
    if old is None and not ctx.made_key(key) and not rows_complete(ctx.db):
        ended = ended_tallies(ctx.db, key)  # saved by an older version (see above)
    new = _summarize(instance, old, ended or {})
    if new == old:
        return
    _apply(ctx.db, key, old, new)
    ctx.db.put("index", row, records.dumps(new))


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
    tallies = _tallied(previous["e"] if previous else {}, ended)
    summary: Summary = {
        "s": display_state(instance),
        "d": instance["processDefinitionKey"],
        "p": instance["bpmnProcessId"],
        "c": instance["createdAt"],
        "a": dict(sorted(active.items())),
        "i": dict(sorted(incidents.items())),
        "e": tallies,
    }
    if instance.get("businessKey") is not None:
        summary["b"] = instance["businessKey"]
    parent = instance.get("parent")
    if parent:
        summary["r"] = parent["processInstanceKey"]
    return summary


def _tallied(tallies: dict[str, list[int]], ended: dict[str, list[int]]) -> dict[str, list[int]]:
    """`tallies` (sorted by element id) plus `ended`, sorted by element id; `tallies` is left
    as it is (it is the old summary). Why not copy and sort every time: a save usually ends
    elements that ended before, so the old order holds and only those tallies are new lists."""
    if not ended:
        return tallies
    out = dict(tallies)
    for element_id, (completed, terminated) in ended.items():
        was = out.get(element_id)
        out[element_id] = (
            [was[0] + completed, was[1] + terminated] if was else [completed, terminated]
        )
    if len(out) > len(tallies):  # an element's first end: its tally must go in its place
        out = dict(sorted(out.items()))
    return out


def _add(db: KVWrite, row: bytes, delta: int) -> None:
    raw = db.get("index", row)
    value = (records.from_u64(raw) if raw else 0) + delta
    assert value >= 0, f"search counter {row!r} below zero"
    if value:
        db.put("index", row, records.u64(value))
    elif raw is not None:
        db.delete("index", row)


def _apply(db: KVWrite, key: int, old: Summary | None, new: Summary | None) -> None:
    """Move index entries and counters from what `old` wrote to what `new` needs.

    Why field by field: this runs on every save, and a save changes few fields (the state,
    the elements with a token, a tally); comparing the fields first builds and writes only
    the rows of those that changed, where building every row of both summaries to compare
    them cost more than the writes. No summary (`None`) writes nothing."""
    if old and new and old["d"] != new["d"]:  # (an instance never changes its definition)
        raise AssertionError(f"instance {key} changed its definition")
    definition: int = (new or old or {"d": 0})["d"]
    k = records.u64(key)
    before = old or _NOTHING
    after = new or _NOTHING
    for field in SCALAR_FIELDS:
        was, now = before.get(field), after.get(field)
        if was != now:
            if was is not None:
                db.delete("index", scalar_entry(field, was, k))
            if now is not None:
                db.put("index", scalar_entry(field, now, k), b"")
    tokens_before, tokens_after = before["a"], after["a"]
    if tokens_before.keys() != tokens_after.keys():
        for element_id in tokens_before:  # (dict order, not a set's: the same on every replica)
            if element_id not in tokens_after:
                db.delete("index", element_entry(element_id, k))
        for element_id in tokens_after:
            if element_id not in tokens_before:
                db.put("index", element_entry(element_id, k), b"")
    state_before, state_after = before.get("s"), after.get("s")
    if state_before != state_after:
        if state_before is not None:
            _add(db, counter_row(definition, ("n", state_before)), -1)
        if state_after is not None:
            _add(db, counter_row(definition, ("n", state_after)), 1)
    _move(db, definition, "a", tokens_before, tokens_after)
    _move(db, definition, "i", before["i"], after["i"])
    tallies_before, tallies_after = before["e"], after["e"]
    if tallies_before != tallies_after:
        for element_id, tally in tallies_after.items():
            _move_tally(
                db, definition, element_id, tallies_before.get(element_id, _NO_TALLY), tally
            )
        for element_id, tally in tallies_before.items():
            if element_id not in tallies_after:
                _move_tally(db, definition, element_id, tally, _NO_TALLY)


def _move_tally(
    db: KVWrite, definition: int, element_id: str, was: list[int], now: list[int]
) -> None:
    """Change the element's completed and terminated counters by `now` - `was`."""
    if now[0] != was[0]:
        _add(db, counter_row(definition, ("c", element_id)), now[0] - was[0])
    if now[1] != was[1]:
        _add(db, counter_row(definition, ("t", element_id)), now[1] - was[1])


def _move(
    db: KVWrite, definition: int, kind: str, was: dict[str, int], now: dict[str, int]
) -> None:
    """Change the `kind` counters of the definition's elements by `now` - `was` (per element)."""
    if was == now:
        return
    for element_id, n in was.items():
        delta = now.get(element_id, 0) - n
        if delta:
            _add(db, counter_row(definition, (kind, element_id)), delta)
    for element_id, n in now.items():
        if n and element_id not in was:
            _add(db, counter_row(definition, (kind, element_id)), n)
