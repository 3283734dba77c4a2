"""Named read-only queries, so a read can run on whichever node leads the partition.

A closure cannot cross the internal gRPC service; a query name plus JSON keyword arguments can.
Every entry wraps a function of `zennode.engine.queries` and returns JSON-ready values (a paged
list query returns `[items, total]`). `run_read` is what both the local path and the internal
server call, so a forwarded read and a local one are the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zennode.engine import queries, retention
from zennode.engine.commands.deploy_resources import distributed
from zennode.engine.commands.trigger_timers import next_wakeup
from zennode.engine.relay import pending_relays
from zennode.engine.search import backfill
from zennode.engine.storage import KVRead
from zennode.errors import BadRequest

ReadFn = Callable[..., Any]
ACTIVATABLE_PAGE_SIZE = 500  # jobs per list_jobs call inside `activatable_jobs`


def activatable_jobs(txn: KVRead, job_type: str, limit: int) -> list[tuple[int, int]]:
    """(key, activatable-at ms) of active jobs of `job_type`, oldest first, up to `limit`, in
    one read transaction (the job manager's load)."""
    found: list[tuple[int, int]] = []
    while len(found) < limit:
        size = min(ACTIVATABLE_PAGE_SIZE, limit - len(found))
        items, _total = queries.list_jobs(
            txn, state="active", job_type=job_type, offset=len(found), limit=size
        )
        found.extend((int(i["key"]), int(i.get("activatableAt") or 0)) for i in items)
        if len(items) < size:
            break
    return found


READS: dict[str, ReadFn] = {
    "get_definition": queries.get_definition,
    "list_definitions": queries.list_definitions,
    "get_decision": queries.get_decision,
    "list_decisions": queries.list_decisions,
    "evaluate_decision": queries.evaluate_decision,
    "get_instance": queries.get_instance,
    "list_instances": queries.list_instances,
    "definition_statistics": queries.definition_statistics,
    "element_statistics": queries.element_statistics,
    "get_job": queries.get_job,
    "list_jobs": queries.list_jobs,
    "get_incident": queries.get_incident,
    "list_incidents": queries.list_incidents,
    "instance_history": queries.instance_history,
    "instance_jobs": queries.instance_jobs,
    "instance_incidents": queries.instance_incidents,
    "child_instances": queries.child_instances,
    "event_subscriptions": queries.event_subscriptions,
    # for the job manager and the leader-side drivers (timers, retention, search backfill, relay)
    "activatable_jobs": activatable_jobs,
    "next_wakeup": next_wakeup,
    "next_purge_due": retention.next_due,
    "search_backfill_status": backfill.status,
    "pending_relays": pending_relays,
    "deployment_distributed": distributed,  # for the service's deploy answer
}


def register_read(name: str, fn: ReadFn) -> None:
    """Add a named query `fn(txn, **args)` (other layers' reads, e.g. messages)."""
    if name in READS and READS[name] is not fn:
        raise ValueError(f"read {name!r} is already registered")
    READS[name] = fn


def run_read(txn: KVRead, name: str, args: dict[str, Any]) -> Any:
    """Run query `name` with keyword `args` on `txn`; tuples become lists (JSON shape)."""
    fn = READS.get(name)
    if fn is None:
        raise BadRequest(f"unknown read {name!r}")
    result = fn(txn, **args)
    if isinstance(result, tuple):
        return list(result)
    return result
