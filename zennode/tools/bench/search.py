"""`scripts/bench search`: instance search on one partition holding N instances, in process.

Builds the partition state with the pure engine on an LMDB store (commands applied in batches,
one write transaction each, as a partition applies a Raft batch), then times
`queries.list_instances` — the function a partition's read runs — for first and deep pages of
several filters: p50 / p99 over `repeats` calls, each in its own read transaction.

The instances (one process; a task that waits for its job): every 10th is
completed, every 50th cancelled, every 1000th has a failed job (an incident), every 100th has a
business key; createdAt advances 1 ms per batch.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

from zennode.tools.bench.models import zennode_model

PAGE_SIZE = 50
DEEP_OFFSET = 10_000  # a deep page: 200 pages of 50 in
BATCH = 1000  # commands per write transaction
MAP_SIZE_BYTES = 64 * 1024**3  # LMDB's map (sparse): room for a few million instances


def build(store: Any, instances: int) -> dict[str, Any]:
    """Fill `store` with `instances` instances; returns what the queries filter by."""
    from zennode.engine import Engine
    from zennode.engine.commands import (
        ActivateJobs,
        CancelInstance,
        Command,
        CompleteJob,
        CreateInstance,
        Deploy,
        FailJob,
        to_wire,
    )
    from zennode.tools.bench.models import PROCESS_ID

    engine = Engine(1)
    clock = [1_000_000]

    def apply(commands: list[Command]) -> list[dict[str, Any]]:
        clock[0] += 1
        events: list[dict[str, Any]] = []
        with store.write() as txn:
            for command in commands:
                wire = to_wire(command)
                wire["now_ms"] = clock[0]
                outcome = engine.apply(txn, wire)
                if outcome.error is not None:
                    raise outcome.error
                events.extend(outcome.events)
        return events

    apply([Deploy(xml=zennode_model())])
    for first in range(0, instances, BATCH):
        creates: list[Command] = [
            CreateInstance(
                bpmn_process_id=PROCESS_ID,
                variables={"n": i},
                business_key=f"order-{i}" if i % 100 == 0 else None,
            )
            for i in range(first, min(first + BATCH, instances))
        ]
        jobs = [e["job"] for e in apply(creates) if e["event"] == "job_created"]
        follow: list[Command] = []
        for offset, job in enumerate(jobs):
            i = first + offset
            if i % 10 == 0:
                follow.append(CompleteJob(job_key=job["key"], variables={"total": 1}))
            elif i % 50 == 1:
                follow.append(CancelInstance(process_instance_key=job["processInstanceKey"]))
            elif i % 1000 == 2:
                follow.append(FailJob(job_key=job["key"], retries=0, message="bench"))
        failing = [c.job_key for c in follow if isinstance(c, FailJob)]
        if failing:  # a job fails once it is activated
            follow.insert(
                0,
                ActivateJobs(
                    job_type=jobs[0]["type"],
                    worker="bench",
                    max_jobs=len(failing),
                    timeout_ms=600_000,
                    job_keys=failing,
                ),
            )
        apply(follow)
    return {"last_created": clock[0]}


def _time(store: Any, repeats: int, **args: Any) -> dict[str, Any]:
    from zennode.engine import queries

    samples = []
    found = 0
    for _ in range(repeats):
        started = time.perf_counter()
        with store.read() as txn:
            items, _total = queries.list_instances(txn, **args)
        samples.append((time.perf_counter() - started) * 1000)
        found = len(items)
    samples.sort()
    return {
        "items": found,
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }


def run(instances: int, repeats: int = 200) -> dict[str, Any]:
    """Build the state, then time each query; the dict `scripts/bench search` prints."""
    from zennode.engine.queries import list_definitions as listed_definitions
    from zennode.state.lmdb_store import LmdbStore
    from zennode.tools.bench.models import PROCESS_ID

    results: dict[str, Any] = {"benchmark": "search", "instances": instances, "page": PAGE_SIZE}
    with tempfile.TemporaryDirectory(prefix="zennode-bench-search-") as directory:
        store = LmdbStore(directory, map_size_bytes=MAP_SIZE_BYTES)
        try:
            started = time.perf_counter()
            built = build(store, instances)
            results["build_seconds"] = round(time.perf_counter() - started, 1)
            with store.read() as txn:
                definition = listed_definitions(txn)[0][0]["processDefinitionKey"]
            middle = 1_000_000 + (built["last_created"] - 1_000_000) // 2
            queries: dict[str, dict[str, Any]] = {
                "all": {},
                "state_active": {"state": "active"},
                "state_completed": {"state": "completed"},
                "state_failed": {"state": "failed"},
                "process_id": {"bpmn_process_id": PROCESS_ID},
                "business_key": {"business_key": f"order-{(instances // 200) * 100}"},
                "activity_task": {"activity_id": "task"},
                "created_window_by_created_desc": {
                    "created_from": middle,
                    "created_to": middle + 10,
                    "sort_by": "createdAt",
                    "sort_order": "desc",
                },
                "process_id_and_completed": {"bpmn_process_id": PROCESS_ID, "state": "completed"},
                "sort_by_state_desc": {"sort_by": "state", "sort_order": "desc"},
                "failed_newest_first": {
                    "state": "failed",
                    "sort_by": "createdAt",
                    "sort_order": "desc",
                },
                "definition_and_failed": {"process_definition_key": definition, "state": "failed"},
                # two filters, no instance matches both: the smaller index (20,000 terminated)
                # is read to its end, each entry checked on its summary (the worst kind)
                "terminated_at_task_worst_case": {"state": "terminated", "activity_id": "task"},
            }
            for name, args in queries.items():
                first = _time(store, repeats, offset=0, limit=PAGE_SIZE, **args)
                deep = _time(
                    store, max(10, repeats // 10), offset=DEEP_OFFSET, limit=PAGE_SIZE, **args
                )
                results[name] = {"first": first, "deep": deep}
        finally:
            store.close()
    return results
