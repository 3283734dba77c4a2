"""The same KV cases against MemoryStore and LmdbStore: the engine must not tell them apart."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from zennode.engine.storage import TABLES, MemoryStore
from zennode.state.lmdb_store import SCAN_CHUNK_ITEMS, LmdbStore, kv_digest


@pytest.fixture(params=["memory", "lmdb"])
def store(request, tmp_path) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryStore()
        return
    s = LmdbStore(tmp_path / "lmdb", map_size_bytes=32 << 20)
    yield s
    s.close()


def _keys(items):
    return [k for k, _ in items]


def test_put_get_delete_commit(store):
    with store.write() as txn:
        txn.put("jobs", b"\x00\x01", b"a")
        txn.put("jobs", b"\x00\x02", b"b")
        assert txn.get("jobs", b"\x00\x01") == b"a"  # own writes visible inside the txn
        txn.delete("jobs", b"\x00\x02")
        assert txn.get("jobs", b"\x00\x02") is None
    with store.read() as txn:
        assert txn.get("jobs", b"\x00\x01") == b"a"
        assert txn.get("jobs", b"\x00\x02") is None
        assert txn.get("instances", b"\x00\x01") is None  # tables are separate


def test_failed_block_commits_nothing(store):
    with store.write() as txn:
        txn.put("meta", b"k", b"old")
    with pytest.raises(ValueError):
        with store.write() as txn:
            txn.put("meta", b"k", b"new")
            txn.put("meta", b"other", b"x")
            raise ValueError("boom")
    with store.read() as txn:
        assert txn.get("meta", b"k") == b"old"
        assert txn.get("meta", b"other") is None


def test_read_txn_refuses_writes_and_unknown_tables(store):
    with store.read() as txn:
        with pytest.raises(RuntimeError):
            txn.put("meta", b"k", b"v")
        with pytest.raises(KeyError):
            txn.get("no-such-table", b"k")


KEYS = [b"a", b"ab", b"abc", b"abd", b"ac", b"b", b"b\x00", b"b\xff", b"b\xff\xff", b"c"]


def _fill(store):
    with store.write() as txn:
        for i, key in enumerate(KEYS):
            txn.put("index", key, str(i).encode())


@pytest.mark.parametrize(
    ("prefix", "start", "reverse", "expected"),
    [
        (b"", None, False, KEYS),
        (b"", None, True, KEYS[::-1]),
        (b"ab", None, False, [b"ab", b"abc", b"abd"]),
        (b"ab", None, True, [b"abd", b"abc", b"ab"]),
        (b"ab", b"abc", False, [b"abc", b"abd"]),
        (b"ab", b"abc", True, [b"abc", b"ab"]),
        (b"ab", b"abcc", True, [b"abc", b"ab"]),
        (b"ab", b"a", False, [b"ab", b"abc", b"abd"]),  # start below the prefix
        (b"ab", b"a", True, []),
        (b"ab", b"zz", False, []),  # start above the prefix
        (b"ab", b"zz", True, [b"abd", b"abc", b"ab"]),
        (b"b\xff", None, False, [b"b\xff", b"b\xff\xff"]),  # prefix with no successor byte
        (b"b\xff", None, True, [b"b\xff\xff", b"b\xff"]),
        (b"x", None, False, []),
        (b"x", None, True, []),
        (b"", b"b", False, [b"b", b"b\x00", b"b\xff", b"b\xff\xff", b"c"]),
        (b"", b"b", True, [b"b", b"ac", b"abd", b"abc", b"ab", b"a"]),
    ],
)
def test_scan_order_prefix_start_reverse(store, prefix, start, reverse, expected):
    _fill(store)
    with store.read() as txn:
        assert _keys(txn.scan("index", prefix, start, reverse)) == expected
    with store.write() as txn:  # the same inside a write transaction
        assert _keys(txn.scan("index", prefix=prefix, start=start, reverse=reverse)) == expected


def test_scan_sees_uncommitted_writes_in_order(store):
    _fill(store)
    with store.write() as txn:
        txn.put("index", b"aa", b"new")
        txn.delete("index", b"abc")
        assert _keys(txn.scan("index", b"a")) == [b"a", b"aa", b"ab", b"abd", b"ac"]


def test_big_endian_integers_sort_numerically(store):
    numbers = random.Random(7).sample(range(1 << 40), 300)
    with store.write() as txn:
        for n in numbers:
            txn.put("jobs", n.to_bytes(8, "big"), b"")
    with store.read() as txn:
        got = [int.from_bytes(k, "big") for k, _ in txn.scan("jobs")]
    assert got == sorted(numbers)


def test_long_scans_cross_chunks_and_allow_deleting_the_current_key(store):
    count = SCAN_CHUNK_ITEMS * 3 + 5
    with store.write() as txn:
        for i in range(count):
            txn.put("timers", i.to_bytes(8, "big"), b"t")
    with store.read() as txn:
        assert len(list(txn.scan("timers", reverse=True))) == count
    with store.write() as txn:
        seen = 0
        for key, _ in txn.scan("timers", start=(10).to_bytes(8, "big")):
            txn.delete("timers", key)
            seen += 1
    assert seen == count - 10
    with store.read() as txn:
        assert len(list(txn.scan("timers"))) == 10


def test_digest_equal_across_implementations(tmp_path):
    mem = MemoryStore()
    lm = LmdbStore(tmp_path / "lmdb", map_size_bytes=32 << 20)
    try:
        for s in (mem, lm):
            with s.write() as txn:
                for i, table in enumerate(TABLES):
                    txn.put(table, bytes([i, 1]), b"v" * i)
        with mem.read() as a:
            assert kv_digest(a) == lm.digest()
        with lm.write() as txn:
            txn.put("meta", b"extra", b"1")
        with mem.read() as a:
            assert kv_digest(a) != lm.digest()
    finally:
        lm.close()
