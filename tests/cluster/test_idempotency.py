"""The idempotency records of a partition (zennode/cluster/idempotency.py): first outcome
kept, conflicts refused, deterministic pruning by window and count; and on a real partition,
a repeated command is applied once."""

from __future__ import annotations

import test_partition
from test_partition import read_counter, start_single

from zennode.cluster import idempotency
from zennode.cluster.idempotency import Idempotency, Limits, Table
from zennode.engine.outcome import Outcome
from zennode.errors import IdempotencyConflict, NotFound
from zennode.state.lmdb_store import LmdbStore

started = test_partition.started  # the fixture that stops every partition a test started


def test_first_outcome_kept_and_a_different_request_refused(tmp_path):
    store = LmdbStore(tmp_path / "env")
    table = Table(Limits())
    key = Idempotency("k1", "digest-a")
    with store.write() as txn:
        assert table.lookup(txn, key) is None
        table.record(txn, key, Outcome(result={"instance": 7}), now_ms=1000)
        table.record(txn, Idempotency("k2", "d"), Outcome(error=NotFound("no job 9")), 1000)
    with store.write() as txn:
        assert table.lookup(txn, key).result == {"instance": 7}
        error = table.lookup(txn, Idempotency("k2", "d")).error
        assert isinstance(error, NotFound) and error.message == "no job 9"
        assert isinstance(table.lookup(txn, Idempotency("k1", "b")).error, IdempotencyConflict)
    store.close()


def test_records_expire_after_the_window_and_the_oldest_go_over_the_count(tmp_path):
    store = LmdbStore(tmp_path / "env")
    table = Table(Limits(client_window_ms=1000, client_keys_max=3))
    with store.write() as txn:
        for i in range(5):
            table.record(txn, Idempotency(f"k{i}", "d"), Outcome(result={}), now_ms=100 * i)
        table.prune(txn, now_ms=400)  # nothing expired; 5 > 3: k0 and k1 go
        assert [table.lookup(txn, Idempotency(f"k{i}", "d")) is None for i in range(5)] == [
            True,
            True,
            False,
            False,
            False,
        ]
        table.prune(txn, now_ms=1350)  # k2 (expires 1200) and k3 (1300) expired
        assert [table.lookup(txn, Idempotency(f"k{i}", "d")) is None for i in range(5)] == [
            True,
            True,
            True,
            True,
            False,
        ]
    store.close()


def test_a_repeated_command_is_applied_once_on_a_partition(started, tmp_path):
    partition = start_single(started, tmp_path)
    key = Idempotency("same", "d").to_wire()
    first = partition.submit({"type": "inc", idempotency.ENVELOPE: key}).result(timeout=5)
    again = partition.submit({"type": "inc", idempotency.ENVELOPE: key}).result(timeout=5)
    assert first.result == again.result and read_counter(partition) == 1
    assert again.events == []  # the repeat changes nothing and tells no listener
