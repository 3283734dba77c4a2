"""One partition's page of an instance search: which index segments drive it (in the requested
order), which filters remain to check on each candidate's summary, and the walk that fills the
page. The cost model is in the package docstring ("Query cost")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from zennode.engine import records
from zennode.engine.search.counters import counted, definitions_of, tokens_at, total
from zennode.engine.search.filters import Filters
from zennode.engine.search.layout import (
    BY_BUSINESS_KEY,
    BY_CREATED,
    BY_DEFINITION,
    BY_ELEMENT,
    BY_PARENT,
    BY_PROCESS_ID,
    BY_STATE,
    STATES,
    SUMMARY,
)
from zennode.engine.search.maintenance import get_summary
from zennode.engine.storage import KVRead
from zennode.errors import BadRequest

SORT_FIELDS = ("key", "createdAt", "state")
SORT_ORDERS = ("asc", "desc")

_FIELDS = {
    "d": "process_definition_key",
    "a": "activity_id",
    "s": "state",
    "p": "bpmn_process_id",
}


def search(
    txn: KVRead,
    filters: Filters,
    sort_by: str = "key",
    sort_order: str = "asc",
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[int], int | None]:
    """Keys of the matching instances in the requested order from `offset`, at most `limit`;
    and the total count when the counters give it exactly (else None)."""
    filters.check()
    if sort_by not in SORT_FIELDS:
        raise BadRequest(f"sortBy must be one of {', '.join(SORT_FIELDS)}, got {sort_by!r}")
    if sort_order not in SORT_ORDERS:
        raise BadRequest(f"sortOrder must be asc or desc, got {sort_order!r}")
    desc = sort_order == "desc"
    segments, rest = _plan(txn, filters, sort_by, desc)
    bounds = _key_bounds(txn, filters)
    keys: list[int] = []
    skipped = 0
    if limit > 0 and bounds is not None:
        for key, raw in _candidates(txn, segments, bounds, desc):
            if rest is not None:  # the driving index alone does not decide: check the summary
                summary = records.loads(raw) if segments == [SUMMARY] else get_summary(txn, key)
                if summary is None or not rest.matches(summary):
                    continue
            if skipped < offset:
                skipped += 1
                continue
            keys.append(key)
            if len(keys) >= limit:
                break
    return keys, total(txn, filters)


def _key_driver(txn: KVRead, f: Filters) -> tuple[bytes, str | None]:
    """The index `sortBy=key` scans (its prefix) and the filter (field) it already applies.

    A parent or a business key names few instances: its index. Else, of the definition,
    activity, state and process id filters given, the one with the fewest entries by the
    counters (reading them costs a few rows per definition): the failed instances of a busy
    process are few, its instances many."""
    if f.parent_key is not None:
        return BY_PARENT + records.u64(f.parent_key), "parent_key"
    if f.business_key is not None:
        return BY_BUSINESS_KEY + records.text(f.business_key), "business_key"
    options: list[tuple[int, int, bytes, str]] = []
    if f.process_definition_key is not None:
        count = counted(txn, [f.process_definition_key], None)
        options.append((count, 0, BY_DEFINITION + records.u64(f.process_definition_key), "d"))
    if f.activity_id is not None:
        count = tokens_at(txn, f.activity_id)
        options.append((count, 1, BY_ELEMENT + records.text(f.activity_id), "a"))
    if f.state is not None:
        count = counted(txn, None, f.state)
        options.append((count, 2, BY_STATE + records.text(f.state), "s"))
    if f.bpmn_process_id is not None:
        count = counted(txn, definitions_of(txn, replace(f, process_definition_key=None)), None)
        options.append((count, 3, BY_PROCESS_ID + records.text(f.bpmn_process_id), "p"))
    if not options:
        return SUMMARY, None
    _, _, prefix, which = min(options)
    return prefix, _FIELDS[which]


def _plan(txn: KVRead, f: Filters, sort_by: str, desc: bool) -> tuple[list[bytes], Filters | None]:
    """The driving index segments (prefixes, each ordered by key, scanned one after the
    other) and the filters they do not apply themselves (None: they apply all, so a page,
    however deep, reads index keys only). The created range is applied as key bounds."""
    if sort_by == "state":
        chosen = [f.state] if f.state is not None else list(STATES)
        segments = [BY_STATE + records.text(s) for s in (reversed(chosen) if desc else chosen)]
        applied: str | None = "state"
    else:  # key, or createdAt: the same order on a partition (see the package docstring)
        prefix, applied = _key_driver(txn, f)
        segments = [prefix]
    rest = replace(f, created_from=None, created_to=None)
    if applied is not None:
        rest = replace(rest, **{applied: None})
    if rest == Filters() or (applied is not None and _driver_covers(txn, f, applied)):
        return segments, None
    return segments, rest


def _driver_covers(txn: KVRead, f: Filters, applied: str) -> bool:
    """Whether every entry of the driving index matches the definition / state filters too, by
    the counters (all completed instances are of the one process filtered by: no check)."""
    if f.parent_key is not None or f.business_key is not None or f.activity_id is not None:
        return False
    if applied == "state":  # (sortBy=state with no state filter: every state)
        in_driver = counted(txn, None, f.state)
    elif applied == "process_definition_key":
        assert f.process_definition_key is not None
        in_driver = counted(txn, [f.process_definition_key], None)
    elif applied == "bpmn_process_id":
        in_driver = counted(txn, definitions_of(txn, replace(f, process_definition_key=None)), None)
    else:
        return False
    return counted(txn, definitions_of(txn, f), f.state) == in_driver


def _key_bounds(txn: KVRead, f: Filters) -> tuple[int, int] | None:
    """The created range as instance keys [lo, hi] (None: no instance was created in it):
    createdAt never decreases with the key on a partition, so the range is a key range."""
    lo, hi = 0, 2**64 - 1
    if f.created_from is not None:
        start = BY_CREATED + records.u64(f.created_from)
        first = next(txn.scan("index", BY_CREATED, start=start), None)
        if first is None:
            return None
        lo = records.from_u64(first[0][11:19])
    if f.created_to is not None:
        start = BY_CREATED + records.u64(f.created_to) + b"\xff" * 8
        last = next(txn.scan("index", BY_CREATED, start=start, reverse=True), None)
        if last is None:
            return None
        hi = records.from_u64(last[0][11:19])
    return (lo, hi) if lo <= hi else None


def _candidates(
    txn: KVRead, segments: list[bytes], bounds: tuple[int, int], desc: bool
) -> Iterator[tuple[int, bytes]]:
    """(instance key, index row value) from each segment in key order within `bounds`."""
    lo, hi = bounds
    for prefix in segments:
        start = prefix + records.u64(hi if desc else lo)
        for row, value in txn.scan("index", prefix, start=start, reverse=desc):
            key = records.from_u64(row[-8:])
            if (key < lo) if desc else (key > hi):
                break
            yield key, value
