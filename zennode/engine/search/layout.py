"""The rows of the search indexes and statistics counters, and what one instance contributes:
the layout every other search module writes or reads (see the package docstring for the
rows). One place, so maintenance (`maintenance.py`), the invariant tests (`implied_rows`) and
the queries agree on every byte."""

from __future__ import annotations

import functools
from typing import Any

from zennode.engine import records
from zennode.engine import state as st
from zennode.engine.storage import KVRead

STATE_ACTIVE = "active"
STATE_COMPLETED = "completed"
STATE_FAILED = "failed"
STATE_TERMINATED = "terminated"
STATES = (STATE_ACTIVE, STATE_COMPLETED, STATE_FAILED, STATE_TERMINATED)  # their key order
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

# Table "meta": the format of the search rows every instance of the partition has (absent: some
# may have been saved by a version from before them and lack them, until `backfill.py` has
# looked; a new partition lacks it until its first command, see `backfill.mark_if_new`).
FORMAT_KEY = b"search_rows"
FORMAT = 1

# Element instance records that are not a token at the element (a multi-instance activity's
# body and iterations: the runs inside them are).
NOT_TOKENS = ("multiInstanceBody", "multiInstanceIteration")

COUNTER_ROWS_CACHED = 4096  # counter rows kept built: a few per element of the hot definitions

KIND_ACTIVE = b"a"
KIND_COMPLETED = b"c"
KIND_TERMINATED = b"t"
KIND_INCIDENTS = b"i"
KIND_NAMES = {
    KIND_ACTIVE: "active",
    KIND_COMPLETED: "completed",
    KIND_TERMINATED: "terminated",
    KIND_INCIDENTS: "incidents",
}

# A summary, as stored: {"s": state, "d": definition key, "p": bpmnProcessId, "c": createdAt,
# "b": businessKey?, "r": parent key?, "a": {elementId: active}, "i": {elementId: incidents},
# "e": {elementId: [completed, terminated]}}.
Summary = dict[str, Any]


def display_state(instance: dict[str, Any]) -> str:
    """The state an instance is searched and shown by (see the package docstring)."""
    status: str = instance["state"]
    if status == st.INSTANCE_ACTIVE and instance.get("incidents", 0) > 0:
        return STATE_FAILED
    return status


def rows_complete(db: KVRead) -> bool:
    """Whether every instance of the partition has its search rows (one `get`)."""
    return db.get("meta", FORMAT_KEY) is not None


def summary_row(key: int) -> bytes:
    return SUMMARY + records.u64(key)


# The index of each scalar summary field: field -> (row prefix, how its value is encoded).
_SCALAR_INDEXES: dict[str, tuple[bytes, Any]] = {
    "s": (BY_STATE, records.text),
    "d": (BY_DEFINITION, records.u64),
    "p": (BY_PROCESS_ID, records.text),
    "c": (BY_CREATED, records.u64),
    "b": (BY_BUSINESS_KEY, records.text),
    "r": (BY_PARENT, records.u64),
}
SCALAR_FIELDS = tuple(_SCALAR_INDEXES)  # the summary fields with an index entry each


def scalar_entry(field: str, value: Any, k: bytes) -> bytes:
    """The index entry of summary field `field` (one of `SCALAR_FIELDS`) = `value`."""
    prefix, encode = _SCALAR_INDEXES[field]
    return prefix + encode(value) + k  # type: ignore[no-any-return]


def element_entry(element_id: str, k: bytes) -> bytes:
    """The index entry of an instance with a token at `element_id`."""
    return BY_ELEMENT + records.text(element_id) + k


def entries(summary: Summary, k: bytes) -> dict[str, bytes]:
    """The index entries (value b"") an instance with this summary has, by what they index
    (`a:<element id>` per element with a token); `k` is the instance key (8 bytes)."""
    rows = {
        field: scalar_entry(field, summary[field], k) for field in SCALAR_FIELDS if field in summary
    }
    for element_id in summary["a"]:
        rows["a:" + element_id] = element_entry(element_id, k)
    return rows


def counts(summary: Summary) -> dict[tuple[str, str], int]:
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


@functools.lru_cache(maxsize=COUNTER_ROWS_CACHED)
def counter_row(definition: int, counter: tuple[str, str]) -> bytes:
    """The counter's row. Cached: every save adds to a few counters of the same definition
    (a pure function of its arguments, so the cache cannot change a result)."""
    kind, name = counter
    if kind == "n":
        return DEFINITION_COUNTS + records.u64(definition) + records.text(name)
    return ELEMENT_COUNTS + records.u64(definition) + records.text(name) + kind.encode()


def implied_rows(summaries: dict[int, Summary]) -> dict[bytes, bytes]:
    """Every search row (summaries, index entries, counters) that instances with these
    summaries imply: what table "index" must hold under the search prefixes (invariant tests
    compare the two)."""
    rows: dict[bytes, bytes] = {}
    totals: dict[bytes, int] = {}
    for key, summary in summaries.items():
        rows[summary_row(key)] = records.dumps(summary)
        for row in entries(summary, records.u64(key)).values():
            rows[row] = b""
        for counter, n in counts(summary).items():
            row = counter_row(summary["d"], counter)
            totals[row] = totals.get(row, 0) + n
    rows.update((row, records.u64(n)) for row, n in totals.items() if n)
    return rows
