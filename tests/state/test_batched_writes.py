"""A Raft batch is one LMDB transaction, and `LmdbTxn` writes each row once per transaction
(its write buffer). These tests pin that the buffer changes only the cost: the same commands
applied in batches or one per transaction leave the same rows, the same statistics counters
and the same digest, and a row rewritten by several commands reaches LMDB once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lmdb
import pytest
from support import bpmn as b

from zennode.engine import Engine, queries
from zennode.engine.outcome import Outcome
from zennode.engine.search import DEFINITION_COUNTS, ELEMENT_COUNTS
from zennode.engine.storage import TABLES, MemoryStore
from zennode.state.lmdb_store import (
    KEY_BYTES_MAX,
    WRITE_BUFFER_ROWS_MAX,
    LmdbStore,
    StoreFailed,
    kv_digest,
)

PARALLEL = b.bpmn(
    b.start()
    + b.gateway("fork", "parallel")
    + b.service("a", "work-a")
    + b.service("b", "work-b", retries="1")
    + b.gateway("join", "parallel")
    + b.end()
    + b.flow("f1", "start", "fork")
    + b.flow("f2", "fork", "a")
    + b.flow("f3", "fork", "b")
    + b.flow("f4", "a", "join")
    + b.flow("f5", "b", "join")
    + b.flow("f6", "join", "end"),
    "parallel",
)
ONE_TASK = b.one_task("single", "work-a")


@pytest.fixture
def stores(tmp_path) -> Iterator[list[LmdbStore]]:
    opened = [LmdbStore(tmp_path / f"s{i}", map_size_bytes=32 << 20) for i in range(3)]
    yield opened
    for store in opened:
        store.close()


def _run(store: Any, engine: Engine, batch: list[dict[str, Any]]) -> list[Outcome]:
    with store.write() as txn:
        return [engine.apply(txn, dict(command)) for command in batch]


def _phases() -> list[list[dict[str, Any]]]:
    """The scenario's commands, phase by phase, found by running it once on a MemoryStore
    (keys are deterministic, so the same commands apply anywhere)."""
    store, engine = MemoryStore(), Engine(1)
    now = [1_000]

    def cmd(kind: str, **fields: Any) -> dict[str, Any]:
        now[0] += 1
        return {"type": kind, "now_ms": now[0], **fields}

    def run(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results = []
        for command in commands:
            outcome = _run(store, engine, [command])[0]
            assert outcome.ok, outcome.error
            results.append(outcome.result)
        return results

    deploys = [cmd("deploy", xml=PARALLEL), cmd("deploy", xml=ONE_TASK)]
    run(deploys)
    creates = [cmd("create_instance", bpmnProcessId="parallel") for _ in range(3)]
    creates += [cmd("create_instance", bpmnProcessId="single") for _ in range(2)]
    instances = [r["processInstanceKey"] for r in run(creates)]
    activate = [cmd("activate_jobs", jobType="work-a", worker="w", timeoutMs=60_000, maxJobs=10)]
    assert len(run(activate)[0]["jobs"]) == 5  # the b jobs stay active (completable too)
    with store.read() as txn:
        jobs = {
            (job["processInstanceKey"], job["elementId"]): job["key"]
            for job in queries.list_jobs(txn, limit=100)[0]
        }
    p1, p2, p3, s1, s2 = instances
    moves = [
        cmd("complete_job", jobKey=jobs[p1, "a"], variables={"x": 1}),
        cmd("complete_job", jobKey=jobs[p1, "b"]),  # p1 completes in the same batch
        cmd("complete_job", jobKey=jobs[p2, "a"]),
        cmd("fail_job", jobKey=jobs[p2, "b"], retries=0, message="no"),  # p2 fails
        cmd("cancel_instance", processInstanceKey=p3),
        cmd("complete_job", jobKey=jobs[s1, "task"]),
        cmd("complete_job", jobKey=jobs[s2, "task"]),
        cmd("complete_job", jobKey=jobs[s2, "task"]),  # refused: already completed
    ]
    for command in moves:
        _run(store, engine, [command])
    purge = [cmd("purge_history", defaultTtlMs=0, limit=2), cmd("purge_history", defaultTtlMs=0)]
    return [deploys, creates, activate, moves, purge]


def _rows(store: LmdbStore) -> dict[str, dict[bytes, bytes]]:
    with store.read() as txn:
        return {table: dict(txn.scan(table)) for table in TABLES}


def test_batches_leave_the_rows_counters_and_digest_of_one_command_per_transaction(stores):
    """Several commands on one instance and one definition in a batch (two jobs of one
    instance, completions, a failure, a cancel, purges that take counts back) give exactly
    the rows of applying them one by one."""
    phases = _phases()
    single, batched, whole = stores
    results: list[list[Any]] = []
    for store, batches in (
        (single, [[c] for phase in phases for c in phase]),
        (batched, phases),
        (whole, [[c for phase in phases for c in phase]]),
    ):
        engine = Engine(1)
        outcomes = [o for batch in batches for o in _run(store, engine, batch)]
        results.append([(o.result, o.events, repr(o.error)) for o in outcomes])
    assert results[0] == results[1] == results[2]
    assert sum(o[2] != "None" for o in results[0]) == 1  # only the second completion is refused
    purged = results[0][-2][0]["deleted"] + results[0][-1][0]["deleted"]
    assert purged >= 3  # p1, p3, s1, s2 ended: retention took their counts back
    rows = _rows(single)
    assert _rows(batched) == rows and _rows(whole) == rows
    counters = {k for k in rows["index"] if k.startswith((DEFINITION_COUNTS, ELEMENT_COUNTS))}
    assert counters  # p2 is still held (failed): its counters are there
    assert single.digest() == batched.digest() == whole.digest()
    with whole.read() as txn:
        assert kv_digest(txn) == whole.digest()


class _CountingTxn:
    """An lmdb.Transaction that counts the writes that reach it."""

    def __init__(self, raw: lmdb.Transaction) -> None:
        self.raw = raw
        self.writes = 0

    def replace(self, key: bytes, value: bytes, db: object) -> bytes | None:
        self.writes += 1
        return self.raw.replace(key, value, db=db)

    def pop(self, key: bytes, db: object) -> bytes | None:
        self.writes += 1
        return self.raw.pop(key, db=db)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _counting(store: LmdbStore) -> tuple[Any, _CountingTxn]:
    from zennode.state.lmdb_store import LmdbTxn

    raw = _CountingTxn(store._require_env().begin(write=True))
    return LmdbTxn(raw, store._dbs, store._raft_db, write=True), raw  # type: ignore[arg-type]


def test_a_row_rewritten_in_a_transaction_reaches_lmdb_once(stores):
    store = stores[0]
    txn, raw = _counting(store)
    for n in range(50):
        txn.put("index", b"counter", n.to_bytes(8, "big"))
        assert txn.get("index", b"counter") == n.to_bytes(8, "big")
    txn.put("index", b"gone", b"x")
    txn.delete("index", b"gone")
    assert txn.get("index", b"gone") is None
    assert raw.writes == 0
    txn.write_pending()
    assert raw.writes == 2  # the counter's last value, the delete of a row LMDB never had
    raw.raw.abort()


def test_a_scan_sees_the_buffered_rows_and_the_buffer_is_bounded(stores):
    store = stores[0]
    txn, raw = _counting(store)
    txn.put("jobs", b"k1", b"v")
    assert list(txn.scan("jobs")) == [(b"k1", b"v")]  # written through before LMDB is read
    assert raw.writes == 1
    for i in range(WRITE_BUFFER_ROWS_MAX):
        txn.put("timers", i.to_bytes(8, "big"), b"t")
    assert raw.writes == 1 + WRITE_BUFFER_ROWS_MAX  # a full buffer is written at once
    raw.raw.abort()


def test_a_key_lmdb_refuses_is_refused_when_it_is_put(stores):
    with pytest.raises(lmdb.BadValsizeError):
        with stores[0].write() as txn:
            txn.put("index", b"k" * (KEY_BYTES_MAX + 1), b"v")
    with pytest.raises(lmdb.BadValsizeError):
        with stores[0].write() as txn:
            txn.delete("index", b"")


class _RefusingTxn(_CountingTxn):
    """An lmdb.Transaction that refuses to write one key with a plain `lmdb.Error` (neither a
    full map nor a disk error)."""

    def __init__(self, raw: lmdb.Transaction, refused: bytes) -> None:
        super().__init__(raw)
        self.refused = refused

    def replace(self, key: bytes, value: bytes, db: object) -> bytes | None:
        if key == self.refused:
            raise lmdb.Error("refused by the test")
        return super().replace(key, value, db=db)


@pytest.mark.parametrize("refused", [b"a-earlier", b"z-later"])
def test_a_failed_write_of_buffered_rows_fails_the_whole_transaction(stores, refused):
    """Command 1 buffers a row; command 2's scan writes the table through and LMDB refuses a
    row. Refusing only command 2 (as the partition does with an ordinary exception) would
    commit the batch without rows of command 1: the transaction must fail instead."""
    store = stores[0]
    digest = store.digest()
    with pytest.raises(StoreFailed, match="refused by the test"):  # not committed
        with store.write() as txn:
            txn._txn = _RefusingTxn(txn._txn, refused)  # type: ignore[assignment]
            txn.put("jobs", b"a-earlier", b"command 1")
            txn.put("jobs", b"z-later", b"command 2")
            with pytest.raises(StoreFailed, match="buffered rows of table 'jobs'"):
                list(txn.scan("jobs"))  # command 2's scan, refused like a bad command
            assert txn.store_failed is not None
            with pytest.raises(StoreFailed):
                txn.write_pending()  # the buffer is not dropped: it fails again
            txn.put("index", b"command 3", b"v")  # a later command of the batch
    with store.read() as view:
        assert list(view.scan("jobs")) == [] and list(view.scan("index")) == []
    assert store.digest() == digest
