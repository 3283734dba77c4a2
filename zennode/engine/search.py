"""Instance search and definition statistics, served from indexes kept with the data.

Why: listing instances used to read every instance; an operator looking for the failed instances
of one process, or the instances waiting at one element, on a partition holding a million
instances needs a page in milliseconds. Every index entry and counter below is written by
`record_instance` (called by `state.put_instance`, the one place an instance is saved, so in
the same write transaction as the record) and deleted by `forget_instance` (called by
`retention.delete_instance_rows`, the one place an instance is deleted). The running state
digest covers these rows like any other (they are plain rows of table "index"), and they follow
from the commands alone, so every replica and every replay writes the same.

Rows (table "index"; `key` = instance key, 8 bytes big-endian; text ends with NUL):
- `qs\\0 key` -> the instance's *summary*: what its index entries and counters were written
  from (`SummaryFields`), so the next save only writes what changed and the delete removes
  exactly what exists. The summary rows also list every instance in key order.
- `qS\\0 state\\0 key`, `qd\\0 definitionKey key`, `qp\\0 bpmnProcessId\\0 key`,
  `qb\\0 businessKey\\0 key`, `qr\\0 parentKey key`, `qa\\0 elementId\\0 key` (one per element id
  with a token now), `qc\\0 createdAt key` -> b"".
- Counters (8-byte big-endian, removed at zero): `qn\\0 definitionKey state\\0` instances per
  definition and state; `qe\\0 definitionKey elementId\\0 kind` per element of a definition, kind
  `a` active, `c` completed, `t` terminated, `i` open incidents.

States: `active`, `completed`, `terminated` as stored, and `failed` = active with at least one
open incident of its own (a child instance's incident fails the child, not its parent). The four
are exclusive: an instance counts in exactly one.

Element statistics (what counts): *active* = element instances of the element now (a waiting
task, a running sub-process, a token stopped at an incident), *completed* = times a token left
the element, *terminated* = element instances ended by an interruption or cancel, *incidents* =
element instances at an open incident now. A multi-instance activity counts its inner runs (one
per iteration), never its body. Counts cover the instances the partition still holds: when
retention deletes an instance, its share of every counter is taken back (the summary keeps the
instance's completed / terminated tallies per element for that).

Order: on a partition `createdAt` never decreases as keys grow (keys come from one counter in
apply order and the partition never lets its clock go back: `cluster/partition.py` clamps
`now_ms`), so `sortBy=createdAt` is key order (ties at one millisecond by key) and a created
range is a key range, found with one seek each in `qc`.

Query cost (one partition): a page is read from *driving* index segments in the requested
order, within the key range of createdFrom / createdTo; a filter the driving index does not
apply is checked on each candidate's summary (one `get`). A page costs the entries read before
it is full: `offset + limit` plus those the other filters reject; with no other filter, index
keys only (no record or summary is read until the page's own instances). Driving index: the
parentProcessInstanceKey or businessKey index when given, else of the processDefinitionKey,
activityId, state and bpmnProcessId indexes given the one with the fewest entries by the
counters (else the summary rows); `sortBy=state` the state index, one
segment per state in order (active, completed, failed, terminated). The total count is exact
from the counters when the filters are at most a definition (key or process id) and a state;
otherwise it is not counted (None) — counting would read every match.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from zennode.engine import records
from zennode.engine import state as st
from zennode.engine.storage import KVRead, KVWrite
from zennode.errors import BadRequest

if TYPE_CHECKING:
    from zennode.engine.context import Context

STATE_ACTIVE = "active"
STATE_COMPLETED = "completed"
STATE_FAILED = "failed"
STATE_TERMINATED = "terminated"
STATES = (STATE_ACTIVE, STATE_COMPLETED, STATE_FAILED, STATE_TERMINATED)  # their key order
SORT_FIELDS = ("key", "createdAt", "state")
SORT_ORDERS = ("asc", "desc")
BUSINESS_KEY_CHARS_MAX = 256

SUMMARY = b"qs\0"
BY_STATE = b"qS\0"
BY_DEFINITION = b"qd\0"
BY_PROCESS_ID = b"qp\0"
BY_BUSINESS_KEY = b"qb\0"
BY_PARENT = b"qr\0"
BY_ELEMENT = b"qa\0"
BY_CREATED = b"qc\0"
DEFINITION_COUNTS = b"qn\0"
ELEMENT_COUNTS = b"qe\0"

# Element instance records that are not a token at the element (a multi-instance activity's
# body and iterations: the runs inside them are).
NOT_TOKENS = ("multiInstanceBody", "multiInstanceIteration")
_INCIDENT = "incident"  # runner.EI_INCIDENT (the runner imports this module's users)

KIND_ACTIVE = b"a"
KIND_COMPLETED = b"c"
KIND_TERMINATED = b"t"
KIND_INCIDENTS = b"i"
_KIND_NAMES = {
    KIND_ACTIVE: "active",
    KIND_COMPLETED: "completed",
    KIND_TERMINATED: "terminated",
    KIND_INCIDENTS: "incidents",
}

_ZERO_KINDS = dict.fromkeys(_KIND_NAMES.values(), 0)

# A summary, as stored: {"s": state, "d": definition key, "p": bpmnProcessId, "c": createdAt,
# "b": businessKey?, "r": parent key?, "a": {elementId: active}, "i": {elementId: incidents},
# "e": {elementId: [completed, terminated]}}.
Summary = dict[str, Any]


def display_state(instance: dict[str, Any]) -> str:
    """The state an instance is searched and shown by (see the module docstring)."""
    status: str = instance["state"]
    if status == st.INSTANCE_ACTIVE and instance.get("incidents", 0) > 0:
        return STATE_FAILED
    return status


# ------------------------------------------------------------------ maintenance


def _summary_row(key: int) -> bytes:
    return SUMMARY + records.u64(key)


def _entries(summary: Summary, k: bytes) -> dict[str, bytes]:
    """The index entries (value b"") an instance with this summary has, by what they index
    (`a:<element id>` per element with a token); `k` is the instance key (8 bytes)."""
    rows = {
        "s": BY_STATE + records.text(summary["s"]) + k,
        "d": BY_DEFINITION + records.u64(summary["d"]) + k,
        "p": BY_PROCESS_ID + records.text(summary["p"]) + k,
        "c": BY_CREATED + records.u64(summary["c"]) + k,
    }
    if "b" in summary:
        rows["b"] = BY_BUSINESS_KEY + records.text(summary["b"]) + k
    if "r" in summary:
        rows["r"] = BY_PARENT + records.u64(summary["r"]) + k
    for element_id in summary["a"]:
        rows["a:" + element_id] = BY_ELEMENT + records.text(element_id) + k
    return rows


def _counts(summary: Summary) -> dict[tuple[str, str], int]:
    """The counters an instance contributes to, with its share of each: (kind, element id or
    state) -> n; kind `n` is the definition's state counter."""
    out = {("n", summary["s"]): 1}
    for element_id, n in summary["a"].items():
        out["a", element_id] = n
    for element_id, n in summary["i"].items():
        out["i", element_id] = n
    for element_id, (completed, terminated) in summary["e"].items():
        if completed:
            out["c", element_id] = completed
        if terminated:
            out["t", element_id] = terminated
    return out


def _counter_row(definition: int, counter: tuple[str, str]) -> bytes:
    kind, name = counter
    if kind == "n":
        return DEFINITION_COUNTS + records.u64(definition) + records.text(name)
    return ELEMENT_COUNTS + records.u64(definition) + records.text(name) + kind.encode()


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
    rows that differ are touched: this runs on every save of every instance)."""
    k = records.u64(key)
    old_rows = _entries(old, k) if old else {}
    new_rows = _entries(new, k) if new else {}
    for name, row in old_rows.items():
        if new_rows.get(name) != row:
            db.delete("index", row)
    for name, row in new_rows.items():
        if old_rows.get(name) != row:
            db.put("index", row, b"")
    if old and new and old["d"] != new["d"]:  # (an instance never changes its definition)
        raise AssertionError(f"instance {key} changed its definition")
    definition = (new or old or {})["d"]
    old_counts = _counts(old) if old else {}
    new_counts = _counts(new) if new else {}
    for counter, n in old_counts.items():
        delta = new_counts.get(counter, 0) - n
        if delta:
            _add(db, _counter_row(definition, counter), delta)
    for counter, n in new_counts.items():
        if counter not in old_counts:
            _add(db, _counter_row(definition, counter), n)


def get_summary(db: KVRead, key: int) -> Summary | None:
    raw = db.get("index", _summary_row(key))
    return records.loads(raw) if raw else None


def record_instance(
    ctx: Context, instance: dict[str, Any], ended: dict[str, list[int]] | None = None
) -> None:
    """The instance is being saved: bring its index entries and counters up to date.

    `ended`: element id -> [completed, terminated] element instances since the last save."""
    key = instance["processInstanceKey"]
    old = get_summary(ctx.db, key)
    new = _summarize(instance, old, ended or {})
    if new == old:
        return
    _apply(ctx.db, key, old, new)
    ctx.db.put("index", _summary_row(key), records.dumps(new))


def forget_instance(db: KVWrite, key: int) -> int:
    """The instance is being deleted: remove its entries, take back its counts; rows deleted."""
    old = get_summary(db, key)
    if old is None:
        return 0
    _apply(db, key, old, None)
    db.delete("index", _summary_row(key))
    return 1 + len(_entries(old, records.u64(key)))


def implied_rows(summaries: dict[int, Summary]) -> dict[bytes, bytes]:
    """Every search row (summaries, index entries, counters) that instances with these
    summaries imply: what table "index" must hold under the search prefixes (invariant tests
    compare the two)."""
    rows: dict[bytes, bytes] = {}
    totals: dict[bytes, int] = {}
    for key, summary in summaries.items():
        rows[_summary_row(key)] = records.dumps(summary)
        for row in _entries(summary, records.u64(key)).values():
            rows[row] = b""
        for counter, n in _counts(summary).items():
            row = _counter_row(summary["d"], counter)
            totals[row] = totals.get(row, 0) + n
    rows.update((row, records.u64(n)) for row, n in totals.items() if n)
    return rows


SEARCH_PREFIXES = (
    SUMMARY,
    BY_STATE,
    BY_DEFINITION,
    BY_PROCESS_ID,
    BY_BUSINESS_KEY,
    BY_PARENT,
    BY_ELEMENT,
    BY_CREATED,
    DEFINITION_COUNTS,
    ELEMENT_COUNTS,
)


# ------------------------------------------------------------------ search


@dataclass(frozen=True, slots=True)
class Filters:
    """What `search` matches; every given field must match (AND). Times in epoch ms."""

    state: str | None = None
    bpmn_process_id: str | None = None
    process_definition_key: int | None = None
    business_key: str | None = None
    parent_key: int | None = None
    activity_id: str | None = None
    created_from: int | None = None  # inclusive
    created_to: int | None = None  # inclusive

    def check(self) -> None:
        if self.state is not None and self.state not in STATES:
            raise BadRequest(f"state must be one of {', '.join(STATES)}, got {self.state!r}")
        for name, value in (
            ("bpmnProcessId", self.bpmn_process_id),
            ("businessKey", self.business_key),
            ("activityId", self.activity_id),
        ):
            if value is not None and (not value or "\0" in value):
                raise BadRequest(f"{name} must be a non-empty text without NUL")
        if self.business_key is not None and len(self.business_key) > BUSINESS_KEY_CHARS_MAX:
            raise BadRequest(f"businessKey is longer than {BUSINESS_KEY_CHARS_MAX} characters")
        for name, number in (
            ("processDefinitionKey", self.process_definition_key),
            ("parentProcessInstanceKey", self.parent_key),
            ("createdFrom", self.created_from),
            ("createdTo", self.created_to),
        ):
            if number is not None and (
                not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 2**63
            ):
                raise BadRequest(f"{name} must be an integer from 0 to 2^63-1, got {number!r}")
        if (
            self.created_from is not None
            and self.created_to is not None
            and self.created_from > self.created_to
        ):
            raise BadRequest("createdFrom is after createdTo")

    def matches(self, summary: Summary) -> bool:
        return (
            (self.state is None or summary["s"] == self.state)
            and (self.bpmn_process_id is None or summary["p"] == self.bpmn_process_id)
            and (self.process_definition_key is None or summary["d"] == self.process_definition_key)
            and (self.business_key is None or summary.get("b") == self.business_key)
            and (self.parent_key is None or summary.get("r") == self.parent_key)
            and (self.activity_id is None or self.activity_id in summary["a"])
            and (self.created_from is None or summary["c"] >= self.created_from)
            and (self.created_to is None or summary["c"] <= self.created_to)
        )


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
        count = _counted(txn, [f.process_definition_key], None)
        options.append((count, 0, BY_DEFINITION + records.u64(f.process_definition_key), "d"))
    if f.activity_id is not None:
        count = _tokens_at(txn, f.activity_id)
        options.append((count, 1, BY_ELEMENT + records.text(f.activity_id), "a"))
    if f.state is not None:
        count = _counted(txn, None, f.state)
        options.append((count, 2, BY_STATE + records.text(f.state), "s"))
    if f.bpmn_process_id is not None:
        count = _counted(txn, _definitions_of(txn, replace(f, process_definition_key=None)), None)
        options.append((count, 3, BY_PROCESS_ID + records.text(f.bpmn_process_id), "p"))
    if not options:
        return SUMMARY, None
    _, _, prefix, which = min(options)
    return prefix, _FIELDS[which]


_FIELDS = {
    "d": "process_definition_key",
    "a": "activity_id",
    "s": "state",
    "p": "bpmn_process_id",
}


def _tokens_at(txn: KVRead, element_id: str) -> int:
    """Element instances at `element_id` over every definition (the `a` counters)."""
    total = 0
    seen: set[bytes] = set()
    for row, _ in txn.scan("index", DEFINITION_COUNTS):
        definition = row[3:11]
        if definition in seen:
            continue
        seen.add(definition)
        raw = txn.get("index", ELEMENT_COUNTS + definition + records.text(element_id) + KIND_ACTIVE)
        total += records.from_u64(raw) if raw else 0
    return total


def _plan(txn: KVRead, f: Filters, sort_by: str, desc: bool) -> tuple[list[bytes], Filters | None]:
    """The driving index segments (prefixes, each ordered by key, scanned one after the
    other) and the filters they do not apply themselves (None: they apply all, so a page,
    however deep, reads index keys only). The created range is applied as key bounds."""
    if sort_by == "state":
        chosen = [f.state] if f.state is not None else list(STATES)
        segments = [BY_STATE + records.text(s) for s in (reversed(chosen) if desc else chosen)]
        applied: str | None = "state"
    else:  # key, or createdAt: the same order on a partition (see the module docstring)
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
        in_driver = _counted(txn, None, f.state)
    elif applied == "process_definition_key":
        assert f.process_definition_key is not None
        in_driver = _counted(txn, [f.process_definition_key], None)
    elif applied == "bpmn_process_id":
        in_driver = _counted(
            txn, _definitions_of(txn, replace(f, process_definition_key=None)), None
        )
    else:
        return False
    return _counted(txn, _definitions_of(txn, f), f.state) == in_driver


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
    return keys, _total(txn, filters)


def _definitions_of(txn: KVRead, f: Filters) -> list[int] | None:
    """The definition keys the filters allow (None: any)."""
    if f.process_definition_key is not None:
        if f.bpmn_process_id is not None:
            record = st.get_definition(txn, f.process_definition_key)
            if record is None or record["bpmnProcessId"] != f.bpmn_process_id:
                return []
        return [f.process_definition_key]
    if f.bpmn_process_id is not None:
        return [
            records.from_u64(raw)
            for _, raw in txn.scan("definitions_by_id", records.text(f.bpmn_process_id))
        ]
    return None


def _counted(txn: KVRead, definitions: list[int] | None, state: str | None) -> int:
    """Instances of `definitions` (None: all) in `state` (None: any), from the counters."""
    prefixes = (
        [DEFINITION_COUNTS]
        if definitions is None
        else [DEFINITION_COUNTS + records.u64(d) for d in definitions]
    )
    wanted = None if state is None else records.text(state)
    total = 0
    for prefix in prefixes:
        for row, raw in txn.scan("index", prefix):
            if wanted is None or row[11:] == wanted:
                total += records.from_u64(raw)
    return total


def _total(txn: KVRead, f: Filters) -> int | None:
    """The number of matches from the counters, when the filters allow (else None)."""
    if (
        f.business_key is not None
        or f.parent_key is not None
        or f.activity_id is not None
        or f.created_from is not None
        or f.created_to is not None
    ):
        return None
    return _counted(txn, _definitions_of(txn, f), f.state)


# ------------------------------------------------------------------ statistics


def definition_statistics(txn: KVRead) -> list[dict[str, Any]]:
    """Instances per definition and state: `[{processDefinitionKey, active, completed, failed,
    terminated}]` in definition key order (definitions with no instances held are left out)."""
    out: dict[int, dict[str, Any]] = {}
    for row, raw in txn.scan("index", DEFINITION_COUNTS):
        key = records.from_u64(row[3:11])
        entry = out.get(key)
        if entry is None:
            entry = out[key] = {"processDefinitionKey": key, **dict.fromkeys(STATES, 0)}
        entry[row[11:-1].decode()] = records.from_u64(raw)
    return list(out.values())


def element_statistics(txn: KVRead, definition_key: int) -> list[dict[str, Any]]:
    """Per element id of a definition: `{elementId, active, completed, terminated, incidents}`
    (elements nothing ever reached are left out), in element id order."""
    out: dict[str, dict[str, Any]] = {}
    prefix = ELEMENT_COUNTS + records.u64(definition_key)
    for row, raw in txn.scan("index", prefix):
        element_id = row[len(prefix) : -2].decode()
        entry = out.get(element_id)
        if entry is None:
            entry = out[element_id] = {"elementId": element_id, **_ZERO_KINDS}
        entry[_KIND_NAMES[row[-1:]]] = records.from_u64(raw)
    return list(out.values())
