"""The search backfill (engine/search/backfill.py): instances saved by a version from before the
search rows get exactly the rows the normal write path gives them, in bounded chunks, so search,
totals, statistics and the state digest end up as if the rows had always been written."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from support.bpmn import bpmn, calling, chain, end, one_task, service, start

from zennode.engine import queries, records, search
from zennode.engine.search import backfill
from zennode.engine.search.layout import FORMAT_KEY
from zennode.state import kv_digest

from . import test_invariants, test_invariants_events
from .helpers import Harness

S = 1000
LOOP = (
    '<bpmn:serviceTask id="each"><bpmn:extensionElements><zeebe:taskDefinition type="each"/>'
    "</bpmn:extensionElements>"
    '<bpmn:multiInstanceLoopCharacteristics isSequential="false"><bpmn:extensionElements>'
    '<zeebe:loopCharacteristics inputCollection="=items" inputElement="item"/>'
    "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:serviceTask>"
)


def _world() -> Harness:
    """Instances in every state: active at each step, completed, terminated, failed (an open
    incident), with business keys, a call-activity parent and its child, a multi-instance
    activity with runs done and runs waiting."""
    h = Harness()
    h.ok("backfill_search")  # a new partition: its leader's first command marks it complete
    two = start() + service("a", "a") + service("b", "b") + end()
    alpha = h.deploy(bpmn(two + chain("start", "a", "b", "end"), "alpha"))["processDefinitionKey"]
    beta = h.deploy(one_task("beta", "beta-work", retries=1))["processDefinitionKey"]
    h.deploy(calling("parent", "beta"))
    loop = h.deploy(bpmn(start() + LOOP + end() + chain("start", "each", "end"), "loop"))
    made = []
    for i in range(9):
        fields: dict[str, Any] = {"processDefinitionKey": (alpha, beta)[i % 2]}
        if i % 3 == 0:
            fields["businessKey"] = f"order-{i}"
        made.append(h.ok("create_instance", now_ms=10 * S + i, **fields)["processInstanceKey"])
    h.complete(made[0], "a")
    h.complete(made[2], "a")
    h.complete(made[2], "b")  # completed
    h.ok("cancel_instance", processInstanceKey=made[4])  # terminated
    h.complete(made[6], "a")
    h.ok("cancel_instance", processInstanceKey=made[6])  # terminated after a step
    job = h.job(made[1], "task")  # beta, retries 1: fails into an incident
    h.ok("activate_jobs", jobType="beta-work", worker="w", maxJobs=10, timeoutMs=60 * S)
    h.ok("fail_job", jobKey=job["key"], retries=0, message="boom")
    h.ok("create_instance", bpmnProcessId="parent", businessKey="p-1")  # + a child instance
    many = h.ok(
        "create_instance",
        processDefinitionKey=loop["processDefinitionKey"],
        variables={"items": [1, 2, 3]},
    )["processInstanceKey"]
    for job in h.active_jobs(many)[:2]:
        h.ok("complete_job", jobKey=job["key"])
    return h


def _old_copy(h: Harness) -> Harness:
    """The same state as a version from before the search rows left it: no search rows and no
    format marker (the element history rows it had already)."""
    old = Harness(partition_id=h.engine.partition_id)
    old.store.tables = copy.deepcopy(h.store.tables)
    old.now_ms = h.now_ms
    index = old.store.tables["index"]
    for row in [r for r in index if r.startswith(search.SEARCH_PREFIXES)]:
        del index[row]
    old.store.tables["meta"].pop(FORMAT_KEY, None)
    return old


def _run_backfill(h: Harness, limit: int) -> list[dict[str, Any]]:
    results = []
    while True:
        results.append(h.ok("backfill_search", limit=limit))
        assert len(results) < 10_000
        if not results[-1]["more"]:
            return results


def _views(h: Harness) -> dict[str, Any]:
    """What the search and statistics routes answer."""
    with h.store.read() as txn:
        out: dict[str, Any] = {"definitions": queries.definition_statistics(txn)}
        for entry in out["definitions"]:
            key = entry["processDefinitionKey"]
            out[f"elements-{key}"] = queries.element_statistics(txn, key)
        for f in ({}, {"state": "active"}, {"state": "failed"}, {"bpmn_process_id": "alpha"}):
            items, total = queries.list_instances(txn, limit=100, **f)
            out[str(f)] = ([i["processInstanceKey"] for i in items], total)
        for f in ({"activity_id": "b"}, {"business_key": "order-3"}, {"activity_id": "each"}):
            items, _ = queries.list_instances(txn, limit=100, **f)
            out[str(f)] = [i["processInstanceKey"] for i in items]
        return out


def _digest(h: Harness) -> str:
    with h.store.read() as txn:
        return kv_digest(txn)


def test_old_instances_get_exactly_the_rows_the_write_path_gives_them_in_small_chunks() -> None:
    normal = _world()
    old = _old_copy(normal)
    assert _views(old)["{}"] == ([], 0)  # invisible to search before
    assert _views(old)["definitions"] == []
    instances = len(normal.store.tables["instances"])

    results = _run_backfill(old, limit=3)

    assert len(results) == -(-instances // 3)
    assert sum(r["migrated"] for r in results) == instances
    assert all(r["scanned"] <= 3 for r in results)
    assert old.snapshot() == normal.snapshot()  # every row, marker included, cursor gone
    assert _digest(old) == _digest(normal)
    views = _views(old)
    assert views == _views(normal)
    assert views["{}"][1] == instances and views["{'state': 'failed'}"][1] == 1
    assert old.ok("backfill_search", limit=3) == {"scanned": 0, "migrated": 0, "more": False}


def test_old_instances_saved_again_before_the_backfill_reached_them_end_up_the_same() -> None:
    """After the upgrade, commands move old instances (and create new ones) while the backfill
    has not reached them: their first save writes all their rows (tallies from history)."""
    normal = _world()
    old = _old_copy(normal)
    keys = sorted(records.from_u64(k) for k in normal.store.tables["instances"])
    at_b = next(k for k in keys if normal.waiting_at(k) == ["b"])
    failed = next(k for k in keys if normal.open_incidents(k))
    old.ok("backfill_search", limit=2, now_ms=50 * S)  # the backfill started, then traffic
    for h in (normal, old):
        job = h.job(at_b, "b")
        h.ok("complete_job", jobKey=job["key"], now_ms=51 * S)  # an old instance completes
        h.ok("create_instance", bpmnProcessId="alpha", businessKey="new", now_ms=52 * S)
        h.ok("cancel_instance", processInstanceKey=failed, now_ms=53 * S)
    _run_backfill(old, limit=2)
    assert old.snapshot() == normal.snapshot()
    assert _views(old) == _views(normal)


def test_the_cursor_resumes_where_the_last_chunk_stopped() -> None:
    old = _old_copy(_world())
    first = old.ok("backfill_search", limit=4)
    assert first == {"scanned": 4, "migrated": 4, "more": True}
    cursor, _ = records.loads(old.store.tables["meta"][backfill.CURSOR_KEY])
    assert cursor == sorted(records.from_u64(k) for k in old.store.tables["instances"])[3]
    with old.store.read() as txn:
        assert not search.rows_complete(txn)
    rest = _run_backfill(old, limit=4)
    assert sum(r["migrated"] for r in rest) == len(old.store.tables["instances"]) - 4
    assert backfill.CURSOR_KEY not in old.store.tables["meta"]
    with old.store.read() as txn:
        assert search.rows_complete(txn)


def test_a_new_partitions_first_command_marks_it_complete_so_no_backfill_runs() -> None:
    """A partition without instances has nothing to backfill: the first command it applies,
    whatever it is, writes the marker in its own transaction (replicated, so every replica has
    it at the same index), and the leader's driver never submits a `backfill_search` there."""
    h = Harness()
    with h.store.read() as txn:
        assert backfill.status(txn) == "new"
    before = h.snapshot()
    h.deploy(one_task("p", "work"))
    after = h.snapshot()
    assert FORMAT_KEY not in before["meta"] and after["meta"][FORMAT_KEY] is not None
    with h.store.read() as txn:
        assert backfill.status(txn) == "done"
    h.ok("create_instance", bpmnProcessId="p")
    index = h.store.tables["index"]
    for row in [r for r in index if r.startswith(search.SUMMARY)]:
        del index[row]  # a summary gone: a complete partition does not even look
    assert h.ok("backfill_search") == {"scanned": 0, "migrated": 0, "more": False}


def test_a_partition_holding_instances_without_the_marker_is_due_not_marked() -> None:
    """Old data: commands applied before the backfill ran never mark it complete."""
    old = _old_copy(_world())
    with old.store.read() as txn:
        assert backfill.status(txn) == "due"
    old.deploy(one_task("q", "work"))
    assert FORMAT_KEY not in old.store.tables["meta"]


def test_instances_created_between_chunks_do_not_extend_the_scan() -> None:
    """The first chunk fixes where the scan ends (the last key the partition had made), so
    instances created after it, which have their rows already, never use up a chunk's slots:
    under any load the backfill ends."""
    old = _old_copy(_world())
    existing = len(old.store.tables["instances"])
    with old.store.read() as txn:
        last = max(records.from_u64(k) for k, _ in txn.scan("instances"))
    results = [old.ok("backfill_search", limit=2)]
    assert results[0]["more"]
    assert records.loads(old.store.tables["meta"][backfill.CURSOR_KEY])[1] >= last
    while results[-1]["more"]:
        assert len(results) < existing  # it ends: each chunk moves past 2 old instances
        for _ in range(3):  # more new instances per round than the chunk takes
            old.ok("create_instance", bpmnProcessId="alpha")
        results.append(old.ok("backfill_search", limit=2))
    assert sum(r["scanned"] for r in results) == existing
    assert sum(r["migrated"] for r in results) == existing
    assert backfill.CURSOR_KEY not in old.store.tables["meta"]
    with old.store.read() as txn:
        assert search.rows_complete(txn)


def _without_tallies(tables: dict[str, dict[bytes, bytes]]) -> dict[str, dict[bytes, bytes]]:
    """The tables without the completed / terminated tallies: each summary's `e` and the `c` /
    `t` element counters."""
    out = copy.deepcopy(tables)
    index = out["index"]
    for row, value in list(index.items()):
        if row.startswith(search.SUMMARY):
            summary = records.loads(value)
            del summary["e"]
            index[row] = records.dumps(summary)
        elif row.startswith(search.ELEMENT_COUNTS) and row[-1:] in (b"c", b"t"):
            del index[row]
    return out


@pytest.mark.parametrize("build", ["invariants", "events"])
def test_random_worlds_get_the_normal_rows_but_for_tallies_the_history_counts_otherwise(
    build: str,
) -> None:
    """On the random worlds of the invariant tests (sub-processes, boundary events, gateways,
    modifications, timers, messages, call activities, multi-instance) every backfilled row is
    the normal one, except the completed / terminated tallies where the history rows and the
    saves count differently (gateways that take flows, event-based gateways: see
    engine/search/backfill.py)."""
    if build == "invariants":
        h = Harness()
        h.deploy(test_invariants.MODEL)
        rng = random.Random(5)
        for _ in range(300):
            for command in test_invariants.random_commands(h, rng):
                h.apply(command["type"], **{k: v for k, v in command.items() if k != "type"})
        harnesses = [h]
    else:
        ps, _ = test_invariants_events.run(11)
        harnesses = list(ps.parts.values())
    for h in harnesses:
        _run_backfill(h, limit=7)  # as its leader would: nothing to do, marks it complete
        old = _old_copy(h)
        _run_backfill(old, limit=7)
        assert _without_tallies(old.snapshot()) == _without_tallies(h.snapshot())
        test_invariants.check(old)  # search rows are what the summaries imply
        with old.store.read() as txn:
            assert search.rows_complete(txn)
