"""LMDB-only behaviour: Raft bookkeeping outside the digest, persistence, growth, swap."""

from __future__ import annotations

import os
import threading
import time

import pytest

from zennode.state.lmdb_store import LmdbStore, StoreFull
from zennode.state.rwlock import RWLock


def test_applied_index_is_committed_with_the_batch_and_not_digested(tmp_path):
    store = LmdbStore(tmp_path / "lmdb", map_size_bytes=32 << 20)
    try:
        before = store.digest()
        with store.write() as txn:
            assert txn.applied_index() == 0
            txn.set_applied_index(42)
        assert store.applied_index() == 42
        assert store.digest() == before  # bookkeeping is not engine state
        with pytest.raises(RuntimeError):
            with store.write() as txn:
                txn.set_applied_index(43)
                txn.put("meta", b"c", b"1")
                raise RuntimeError("apply failed")
        assert store.applied_index() == 42
    finally:
        store.close()


def test_state_survives_reopen(tmp_path):
    store = LmdbStore(tmp_path / "lmdb", map_size_bytes=32 << 20)
    with store.write() as txn:
        txn.put("instances", b"\x01", b"record")
        txn.set_applied_index(7)
    digest = store.digest()
    store.close()
    again = LmdbStore(tmp_path / "lmdb", map_size_bytes=32 << 20)
    try:
        assert again.digest() == digest
        assert again.applied_index() == 7
        assert again.size_bytes() > 0
    finally:
        again.close()


def test_map_full_is_reported_even_if_swallowed_and_grow_recovers(tmp_path):
    store = LmdbStore(tmp_path / "lmdb", map_size_bytes=1 << 20)
    value = os.urandom(4000)
    try:
        with pytest.raises(StoreFull):
            with store.write() as txn:
                for i in range(1000):
                    try:
                        txn.put("jobs", i.to_bytes(8, "big"), value)
                    except StoreFull:
                        pass  # a careless caller: the store still refuses to commit
        with store.read() as txn:
            assert txn.get("jobs", (0).to_bytes(8, "big")) is None
        for _ in range(4):
            store.grow()
        with store.write() as txn:
            for i in range(1000):
                txn.put("jobs", i.to_bytes(8, "big"), value)
        assert store.map_size_bytes == 16 << 20
    finally:
        store.close()


def test_replace_from_swaps_env_and_recovers_interrupted_swap(tmp_path):
    src = LmdbStore(tmp_path / "src", map_size_bytes=32 << 20)
    with src.write() as txn:
        txn.put("jobs", b"\x01", b"from-snapshot")
        txn.set_applied_index(99)
    copy = tmp_path / "copy.mdb"
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert src.copy_to_fd(fd) == 99
    finally:
        os.close(fd)
    digest = src.digest()
    src.close()

    dst = LmdbStore(tmp_path / "dst", map_size_bytes=32 << 20)
    with dst.write() as txn:
        txn.put("jobs", b"\x02", b"local")
    dst.replace_from(copy)
    assert dst.digest() == digest
    assert dst.applied_index() == 99
    dst.close()

    # A crash after the live env was renamed away but before the new one was moved in.
    live = tmp_path / "dst"
    os.rename(live, tmp_path / "dst.old")
    recovered = LmdbStore(live, map_size_bytes=32 << 20)
    try:
        assert recovered.digest() == digest
    finally:
        recovered.close()


def test_rwlock_exclusive_waits_for_readers_and_nested_reads_do_not_deadlock():
    lock = RWLock()
    order: list[str] = []
    reader_in = threading.Event()

    def exclusive() -> None:
        with lock.exclusive():
            order.append("exclusive")

    with lock.shared():
        reader_in.set()
        writer = threading.Thread(target=exclusive)
        writer.start()
        time.sleep(0.05)
        with lock.shared():  # nested on this thread, with an exclusive holder waiting
            order.append("nested read")
        order.append("read done")
    writer.join(timeout=5)
    assert order == ["nested read", "read done", "exclusive"]


def test_the_running_digest_always_equals_a_full_scan(tmp_path):
    """Puts, overwrites (same and new value), deletes (present and missing), aborted
    transactions and a reopen: the O(1) digest stays the full-scan digest."""
    import random

    from zennode.engine.storage import TABLES
    from zennode.state.lmdb_store import _DIGEST, kv_digest

    rng = random.Random(15)
    store = LmdbStore(tmp_path / "lmdb", map_size_bytes=32 << 20)
    empty = store.digest()
    try:
        for round_no in range(40):
            try:
                with store.write() as txn:
                    for _ in range(rng.randrange(1, 30)):
                        table = rng.choice(TABLES[:4])
                        key = bytes([rng.randrange(20)])
                        if rng.random() < 0.3:
                            txn.delete(table, key)
                        else:
                            txn.put(table, key, bytes([rng.randrange(3)]) * rng.randrange(1, 5))
                    if round_no % 7 == 3:
                        raise RuntimeError("apply failed: nothing of it counts")
            except RuntimeError:
                pass
            with store.read() as txn:
                assert store.digest() == kv_digest(txn)
        with store.write() as txn:  # delete everything: back to the empty digest
            for table in TABLES:
                for key, _ in list(txn.scan(table)):
                    txn.delete(table, key)
        assert store.digest() == empty
        with store.write() as txn:
            txn.put("jobs", b"k", b"v")
            txn.raft_delete(_DIGEST)  # as written by a version without the running digest
        full = None
        store.close()
        store = LmdbStore(tmp_path / "lmdb", map_size_bytes=32 << 20)
        with store.read() as txn:
            full = kv_digest(txn)
        assert store.digest() == full != empty
    finally:
        store.close()
