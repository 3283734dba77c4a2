"""Instance search and definition statistics, served from indexes kept with the data.

Why: listing instances used to read every instance; an operator looking for the failed instances
of one process, or the instances waiting at one element, on a partition holding a million
instances needs a page in milliseconds. Every index entry and counter below is written by
`maintenance.record_instance` (called by `state.put_instance`, the one place an instance is
saved, so in the same write transaction as the record) and deleted by
`maintenance.forget_instance` (called by `retention.delete_instance_rows`, the one place an
instance is deleted). The running state
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

Modules, one job each: `layout` (the rows and what one instance contributes to them),
`maintenance` (writing them with the instance), `filters` (what a search asks for),
`planner` (one partition's page), `counters` (reading the counters: statistics, totals and
the planner's estimates), `backfill` (the rows of instances an older version saved without
them: a one-time migration). The names callers use are exported here.
"""

from zennode.engine.search.counters import definition_statistics, element_statistics
from zennode.engine.search.filters import Filters
from zennode.engine.search.layout import (
    BUSINESS_KEY_CHARS_MAX,
    DEFINITION_COUNTS,
    ELEMENT_COUNTS,
    NOT_TOKENS,
    SEARCH_PREFIXES,
    STATES,
    SUMMARY,
    display_state,
    implied_rows,
    rows_complete,
)
from zennode.engine.search.maintenance import forget_instance, record_instance
from zennode.engine.search.planner import SORT_FIELDS, SORT_ORDERS, search

__all__ = [
    "BUSINESS_KEY_CHARS_MAX",
    "DEFINITION_COUNTS",
    "ELEMENT_COUNTS",
    "NOT_TOKENS",
    "SEARCH_PREFIXES",
    "SORT_FIELDS",
    "SORT_ORDERS",
    "STATES",
    "SUMMARY",
    "Filters",
    "definition_statistics",
    "display_state",
    "element_statistics",
    "forget_instance",
    "implied_rows",
    "record_instance",
    "rows_complete",
    "search",
]
