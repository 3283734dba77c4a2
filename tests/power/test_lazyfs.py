"""The power-loss file system itself (tests/power/lazyfs.py): what survives a power loss is
exactly what was made durable, for data, sizes and names; and what LMDB, the Raft log and
PySyncObj's files need works on it (open flags, truncate, mmap, msync, locks, rename, fsync).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import subprocess
import sys

import lmdb
import pytest

from power.disk import PowerDisk
from zennode.cluster.journal import RaftJournal

pytestmark = pytest.mark.timeout(120)


def write(path, data: bytes, sync: bool, flags: int = os.O_CREAT | os.O_WRONLY) -> None:
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_unsynced_writes_are_read_back_then_lost(disk: PowerDisk) -> None:
    path = disk.path / "f"
    write(path, b"durable ", sync=True)
    write(path, b"page cache", sync=False, flags=os.O_WRONLY | os.O_APPEND)
    assert path.read_bytes() == b"durable page cache"  # reads see unsynced writes
    undone = disk.lose_power()
    assert undone["files"] == 1 and undone["blocks"] == 1
    assert path.read_bytes() == b"durable "


def test_an_overwrite_in_place_is_rolled_back_to_the_synced_content(disk: PowerDisk) -> None:
    path = disk.path / "f"
    original = os.urandom(3 * 4096 + 100)
    write(path, original, sync=True)
    fd = os.open(path, os.O_RDWR)
    os.pwrite(fd, b"X" * 5000, 2000)  # spans blocks 0-1
    os.fdatasync(fd)  # fdatasync counts as fsync
    os.pwrite(fd, b"Y" * 9000, 4000)  # blocks 0-3 and growth, not synced
    os.close(fd)
    disk.lose_power()
    expected = bytearray(original)
    expected[2000:7000] = b"X" * 5000
    assert path.read_bytes() == bytes(expected)


def test_truncations_and_open_with_o_trunc_are_undone(disk: PowerDisk) -> None:
    shrunk, emptied = disk.path / "shrunk", disk.path / "emptied"
    write(shrunk, b"0123456789" * 1000, sync=True)
    write(emptied, b"keep me", sync=True)
    os.truncate(shrunk, 5)
    write(emptied, b"", sync=False, flags=os.O_WRONLY | os.O_TRUNC)
    assert shrunk.stat().st_size == 5 and emptied.read_bytes() == b""
    disk.lose_power()
    assert shrunk.read_bytes() == b"0123456789" * 1000
    assert emptied.read_bytes() == b"keep me"


def test_a_synced_file_survives_without_a_directory_sync_an_unsynced_one_does_not(
    disk: PowerDisk,
) -> None:
    write(disk.path / "synced", b"a", sync=True)
    write(disk.path / "unsynced", b"b", sync=False)
    os.mkdir(disk.path / "dir")
    disk.lose_power()
    assert sorted(os.listdir(disk.path)) == ["synced"]


def test_renames_and_unlinks_need_a_directory_sync(disk: PowerDisk) -> None:
    write(disk.path / "old", b"old", sync=True)
    write(disk.path / "new.tmp", b"new", sync=True)
    write(disk.path / "gone", b"gone", sync=True)
    fsync_dir(disk.path)
    os.replace(disk.path / "new.tmp", disk.path / "old")  # replaces a file
    os.unlink(disk.path / "gone")
    assert sorted(os.listdir(disk.path)) == ["old"]
    disk.lose_power()
    assert sorted(os.listdir(disk.path)) == ["gone", "new.tmp", "old"]
    assert (disk.path / "old").read_bytes() == b"old"
    os.replace(disk.path / "new.tmp", disk.path / "old")
    os.unlink(disk.path / "gone")
    os.link(disk.path / "old", disk.path / "other-name")
    fsync_dir(disk.path)
    disk.lose_power()
    assert sorted(os.listdir(disk.path)) == ["old", "other-name"]
    assert (disk.path / "other-name").read_bytes() == b"new"


def test_a_directory_tree_made_durable_by_a_file_sync_inside_it(disk: PowerDisk) -> None:
    nested = disk.path / "a" / "b"
    nested.mkdir(parents=True)
    write(nested / "f", b"x", sync=True)  # commits the creations before it, in order
    disk.lose_power()
    assert (nested / "f").read_bytes() == b"x"


def test_mmap_writes_arrive_as_writes_and_msync_as_fsync(disk: PowerDisk) -> None:
    path = disk.path / "mapped"
    write(path, b"\0" * 8192, sync=True)
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 8192) as mapped:
        mapped[0:5] = b"synced"[:5]
        mapped.flush()  # msync
        mapped[4096:4100] = b"lost"
    disk.lose_power()
    data = path.read_bytes()
    assert data[0:5] == b"synce" and data[4096:4100] == b"\0\0\0\0"


def test_fallocate_growth_is_undone(disk: PowerDisk) -> None:
    path = disk.path / "grown"
    write(path, b"x" * 100, sync=True)
    fd = os.open(path, os.O_RDWR)
    os.posix_fallocate(fd, 0, 1 << 20)
    os.close(fd)
    assert path.stat().st_size == 1 << 20
    disk.lose_power()
    assert path.read_bytes() == b"x" * 100


def test_file_locks_are_arbitrated_between_processes(disk: PowerDisk) -> None:
    path = disk.path / "lock"
    write(path, b"", sync=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,sys,time\n"
            f"f=open({str(path)!r},'r+b'); fcntl.lockf(f, fcntl.LOCK_EX)\n"
            "print('held', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with open(path, "r+b") as f:
            with pytest.raises(OSError):
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with pytest.raises(OSError):
                fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
    finally:
        holder.communicate("\n", timeout=10)
    with open(path, "r+b") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again


def test_lmdb_synced_commits_survive_unsynced_ones_are_lost(disk: PowerDisk) -> None:
    durable = lmdb.open(str(disk.path / "durable"), map_size=1 << 24, sync=True, metasync=False)
    lazy = lmdb.open(str(disk.path / "lazy"), map_size=1 << 24, sync=False, metasync=False)
    for env in (durable, lazy):
        with env.begin(write=True) as txn:
            txn.put(b"first", b"1")
    lazy.sync(True)
    for env in (durable, lazy):
        for i in range(50):
            with env.begin(write=True) as txn:
                txn.put(b"k%d" % i, os.urandom(500))
        env.close()
    disk.lose_power()
    durable = lmdb.open(str(disk.path / "durable"), map_size=1 << 24)
    lazy = lmdb.open(str(disk.path / "lazy"), map_size=1 << 24)
    with durable.begin() as txn:
        # MDB_NOMETASYNC: the last commit may be undone, never more
        assert txn.stat()["entries"] >= 50
    with lazy.begin() as txn:
        assert txn.get(b"first") == b"1" and txn.stat()["entries"] == 1
    durable.close()
    lazy.close()


JOURNAL_WRITER = """
import sys, time
from pathlib import Path
from zennode.cluster.journal import RaftJournal
base = Path(sys.argv[1])
durable, lazy = RaftJournal(base / "durable", True), RaftJournal(base / "lazy", False)
for journal in (durable, lazy):
    journal.setCurrentTerm(4, "127.0.0.1:1")
    for index in range(1, 101):
        journal.add(b"entry %d" % index, index, 4)
deadline = time.monotonic() + 10
while durable.durable_index() < 100 and time.monotonic() < deadline:
    time.sleep(0.01)
print(durable.durable_index(), flush=True)
time.sleep(60)
"""


def test_the_raft_log_keeps_what_it_synced_and_only_that(disk: PowerDisk) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", JOURNAL_WRITER, str(disk.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "100"
    finally:
        writer.kill()  # dies with the power, journals open
        writer.wait(timeout=10)
    disk.lose_power()
    durable = RaftJournal(disk.path / "durable", durable=True)
    lazy = RaftJournal(disk.path / "lazy", durable=False)
    assert len(durable) == 100 and durable.getCurrentTerm() == 4
    assert len(lazy) == 0 and lazy.getCurrentTerm() == 0
    durable.close()
    lazy.close()


def test_a_missing_fuse_fails_loudly(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no fusermount3
    with pytest.raises(RuntimeError, match="fusermount3"):
        PowerDisk(tmp_path / "nodisk").mount()
