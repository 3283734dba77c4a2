"""The snapshot codec refuses damaged files before touching anything, and installs good ones."""

from __future__ import annotations

import os
import time

import pytest
from pysyncobj import SERIALIZER_STATE

from zennode.state.lmdb_store import LmdbStore
from zennode.state.snapshot import HEADER_SIZE, SnapshotCodec, SnapshotError, verify_snapshot

RAFT_DATA = (("entry", 12, 3), ("entry", 11, 3), {"127.0.0.1:1"})
NEWER = (("entry", 9, 3), ("entry", 8, 3), {"127.0.0.1:1"})


def _receive(dump, data: bytes) -> None:
    """Write a transfer the way PySyncObj does: to a temp file renamed over the dump."""
    tmp = dump.with_name(dump.name + ".1.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dump)


def _store(path, index: int, rows: int, tag: bytes) -> LmdbStore:
    store = LmdbStore(path, map_size_bytes=64 << 20)
    with store.write() as txn:
        for i in range(rows):
            txn.put("jobs", i.to_bytes(8, "big"), tag * 200)
        txn.set_applied_index(index)
    return store


@pytest.fixture
def leader_snapshot(tmp_path):
    """A snapshot file made by a replica at applied index 50, and that replica's digest."""
    leader = _store(tmp_path / "leader" / "lmdb", index=50, rows=2000, tag=b"L")
    codec = SnapshotCodec(leader, tmp_path / "leader" / "dump", background=False)
    codec.serialize(str(tmp_path / "leader" / "dump"), RAFT_DATA)
    digest = leader.digest()
    leader.close()
    return tmp_path / "leader" / "dump", digest


def test_round_trip_header_and_body(leader_snapshot):
    path, _ = leader_snapshot
    raft_data, index = verify_snapshot(path)
    assert raft_data == RAFT_DATA
    assert index == 50
    assert os.path.getsize(path) > HEADER_SIZE + 2000 * 200


def test_install_replaces_only_when_snapshot_is_ahead(tmp_path, leader_snapshot):
    path, leader_digest = leader_snapshot
    follower = _store(tmp_path / "f" / "lmdb", index=10, rows=3, tag=b"F")
    codec = SnapshotCodec(follower, tmp_path / "f" / "dump")
    try:
        assert codec.deserialize(str(path)) == RAFT_DATA
        assert follower.digest() == leader_digest
        assert follower.applied_index() == 50
        assert codec.installs == 1
        # A replica already ahead of the snapshot keeps its own state.
        with follower.write() as txn:
            txn.put("meta", b"newer", b"1")
            txn.set_applied_index(60)
        newer = follower.digest()
        assert codec.deserialize(str(path)) == RAFT_DATA
        assert follower.digest() == newer
        assert codec.installs == 1
    finally:
        follower.close()


def _damage_truncate(data: bytes) -> bytes:
    return data[: len(data) - 65536]  # one PySyncObj transfer chunk short, as measured


def _damage_flip(data: bytes) -> bytes:
    pos = HEADER_SIZE + (len(data) - HEADER_SIZE) // 2
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


def _damage_header(data: bytes) -> bytes:
    return data[:10]


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_flip, _damage_header])
def test_damaged_snapshot_is_refused_and_local_state_survives(tmp_path, leader_snapshot, damage):
    path, leader_digest = leader_snapshot
    follower = _store(tmp_path / "f" / "lmdb", index=10, rows=3, tag=b"F")
    dump = tmp_path / "f" / "dump"
    codec = SnapshotCodec(follower, dump, background=False)
    try:
        codec.serialize(str(dump), RAFT_DATA)  # the follower's own good dump
        own_dump = dump.read_bytes()
        local_digest = follower.digest()
        # PySyncObj writes the received transfer over the dump file, then deserializes it.
        _receive(dump, damage(path.read_bytes()))
        # Refused; the last good dump is put back and loaded instead (never no dump at all).
        assert codec.deserialize(str(dump)) == RAFT_DATA
        assert follower.digest() == local_digest != leader_digest
        assert follower.applied_index() == 10
        assert dump.read_bytes() == own_dump  # the good dump is back for the next start
        assert codec.refused == 1
        # The intact snapshot still installs afterwards.
        _receive(dump, path.read_bytes())
        codec.deserialize(str(dump))
        assert follower.digest() == leader_digest
    finally:
        follower.close()


def test_damaged_dump_without_a_good_copy_is_removed(tmp_path, leader_snapshot):
    path, _ = leader_snapshot
    follower = _store(tmp_path / "f" / "lmdb", index=1, rows=1, tag=b"F")
    dump = tmp_path / "f" / "dump"
    codec = SnapshotCodec(follower, dump)
    try:
        _receive(dump, _damage_truncate(path.read_bytes()))
        with pytest.raises(SnapshotError):
            codec.deserialize(str(dump))
        assert not dump.exists()
        assert follower.applied_index() == 1
    finally:
        follower.close()


def _serialize_like_pysyncobj(codec: SnapshotCodec, dump, raft_data) -> None:
    """PySyncObj calls the serializer on a temp name, then renames it over the dump."""
    tmp = str(dump) + ".tmp"
    codec.serialize(tmp, raft_data)
    os.replace(tmp, dump)


def _wait_check(codec: SnapshotCodec) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = codec.check()
        if state != SERIALIZER_STATE.SERIALIZING:
            return state
        time.sleep(0.01)
    raise AssertionError("snapshot never finished")


def test_background_write_keeps_the_old_dump_until_the_new_one_is_complete(tmp_path):
    store = _store(tmp_path / "lmdb", index=5, rows=500, tag=b"A")
    dump = tmp_path / "dump"
    codec = SnapshotCodec(store, dump)
    try:
        _serialize_like_pysyncobj(codec, dump, RAFT_DATA)
        assert _wait_check(codec) == SERIALIZER_STATE.SUCCESS
        assert codec.check() == SERIALIZER_STATE.NOT_SERIALIZING  # reported once
        assert verify_snapshot(dump) == (RAFT_DATA, 5)

        with store.write() as txn:
            txn.put("meta", b"more", b"1")
            txn.set_applied_index(9)
        _serialize_like_pysyncobj(codec, dump, NEWER)
        # Whatever the timing, the dump on disk is always a complete, valid snapshot.
        assert verify_snapshot(dump)[1] in (5, 9)
        assert _wait_check(codec) == SERIALIZER_STATE.SUCCESS
        assert verify_snapshot(dump) == (NEWER, 9)
        assert os.path.samefile(dump, str(dump) + ".good")
    finally:
        codec.wait(10)
        store.close()


@pytest.mark.parametrize("copy_running", [False, True])
def test_background_write_is_dropped_when_a_snapshot_was_installed_meanwhile(
    tmp_path, leader_snapshot, copy_running
):
    path, leader_digest = leader_snapshot
    store = _store(tmp_path / "lmdb", index=5, rows=5000, tag=b"A")
    dump = tmp_path / "dump"
    codec = SnapshotCodec(store, dump)
    try:
        _serialize_like_pysyncobj(codec, dump, NEWER)
        if copy_running:
            assert codec.check() == SERIALIZER_STATE.SERIALIZING  # starts the copy
        _receive(dump, path.read_bytes())
        assert codec.deserialize(str(dump)) == RAFT_DATA
        assert _wait_check(codec) in (SERIALIZER_STATE.SUCCESS, SERIALIZER_STATE.FAILED)
        # The installed (leader's) snapshot is what stays on disk either way it raced.
        raft_data, index = verify_snapshot(dump)
        assert store.digest() == leader_digest and store.applied_index() == 50
        assert index == 50 and raft_data == RAFT_DATA
    finally:
        codec.wait(10)
        store.close()


def test_success_waits_while_the_journal_is_truncated_below_the_trim_point(tmp_path):
    """PySyncObj trims the journal to R-1 on SUCCESS; with a journal truncated below R the
    trim would empty it, so SUCCESS is held back until the journal reaches R again."""
    store = _store(tmp_path / "lmdb", index=12, rows=10, tag=b"A")
    dump = tmp_path / "dump"
    log_end = [9]  # a follower just truncated its journal to index 9 (R is 12)
    codec = SnapshotCodec(store, dump, log_end_index=lambda: log_end[0])
    try:
        _serialize_like_pysyncobj(codec, dump, RAFT_DATA)  # R-1 = 11
        assert codec.check() == SERIALIZER_STATE.SERIALIZING
        codec.wait(10)
        for _ in range(3):
            assert codec.check() == SERIALIZER_STATE.SERIALIZING  # done, but held back
        log_end[0] = 12
        assert codec.check() == SERIALIZER_STATE.SUCCESS
    finally:
        codec.wait(10)
        store.close()
