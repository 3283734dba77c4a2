"""Reading the statistics counters: the statistics routes (`definition_statistics`,
`element_statistics`), the exact total of a search when the counters give it (`total`), and
the entry counts the planner picks its driving index by. A few rows per definition each: never
a walk over instances."""

from __future__ import annotations

from typing import Any

from zennode.engine import records
from zennode.engine import state as st
from zennode.engine.search.filters import Filters
from zennode.engine.search.layout import (
    DEFINITION_COUNTS,
    ELEMENT_COUNTS,
    KIND_ACTIVE,
    KIND_NAMES,
    STATES,
)
from zennode.engine.storage import KVRead

_ZERO_KINDS = dict.fromkeys(KIND_NAMES.values(), 0)


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
        entry[KIND_NAMES[row[-1:]]] = records.from_u64(raw)
    return list(out.values())


def total(txn: KVRead, f: Filters) -> int | None:
    """The number of matches from the counters, when the filters allow (else None)."""
    if (
        f.business_key is not None
        or f.parent_key is not None
        or f.activity_id is not None
        or f.created_from is not None
        or f.created_to is not None
    ):
        return None
    return counted(txn, definitions_of(txn, f), f.state)


def definitions_of(txn: KVRead, f: Filters) -> list[int] | None:
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


def counted(txn: KVRead, definitions: list[int] | None, state: str | None) -> int:
    """Instances of `definitions` (None: all) in `state` (None: any), from the counters."""
    prefixes = (
        [DEFINITION_COUNTS]
        if definitions is None
        else [DEFINITION_COUNTS + records.u64(d) for d in definitions]
    )
    wanted = None if state is None else records.text(state)
    found = 0
    for prefix in prefixes:
        for row, raw in txn.scan("index", prefix):
            if wanted is None or row[11:] == wanted:
                found += records.from_u64(raw)
    return found


def tokens_at(txn: KVRead, element_id: str) -> int:
    """Element instances at `element_id` over every definition (the `a` counters)."""
    found = 0
    seen: set[bytes] = set()
    for row, _ in txn.scan("index", DEFINITION_COUNTS):
        definition = row[3:11]
        if definition in seen:
            continue
        seen.add(definition)
        raw = txn.get("index", ELEMENT_COUNTS + definition + records.text(element_id) + KIND_ACTIVE)
        found += records.from_u64(raw) if raw else 0
    return found
