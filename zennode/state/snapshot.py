"""The Raft snapshot of a partition: PySyncObj's bookkeeping plus a copy of the LMDB env.

PySyncObj's default snapshot pickles the SyncObj's attributes, which here hold no data, so a
follower that installs it would end up empty. This codec is passed as its `serializer` /
`deserializer`. PySyncObj ships the dump file to lagging followers in 64 KiB chunks with no
offsets and no checksum; a transfer cut short once crashed LMDB with SIGBUS. So the file
carries its lengths and a SHA-256, and the reader verifies both before it touches anything.

File layout (big-endian):

    magic "ZNSNAP" | version u16 | raft_len u64 | lmdb_len u64 | sha256(body) 32B |
    applied_index u64 | body = pickle(raft_data) (raft_len bytes) + data.mdb (lmdb_len bytes)

`applied_index` is the Raft index the LMDB copy has applied; a replica replaces its env only
when the snapshot is ahead of what it already holds (its own dump on restart never is).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import struct
from pathlib import Path
from typing import Any

from zennode.state.lmdb_store import LmdbStore

log = logging.getLogger(__name__)

MAGIC = b"ZNSNAP"
VERSION = 1
_HEADER = struct.Struct(">6sHQQ32sQ")
HEADER_SIZE = _HEADER.size
_READ_CHUNK = 1 << 20
GOOD_SUFFIX = ".good"  # hard link to the last dump this replica wrote or verified


class SnapshotError(Exception):
    """A snapshot file is truncated, corrupted or of an unknown format; nothing was replaced."""


def _hash_range(fd: int, offset: int, length: int) -> bytes:
    h = hashlib.sha256()
    remaining = length
    pos = offset
    while remaining > 0:
        chunk = os.pread(fd, min(_READ_CHUNK, remaining), pos)
        if not chunk:
            raise SnapshotError(f"snapshot ends {remaining} bytes early")
        h.update(chunk)
        pos += len(chunk)
        remaining -= len(chunk)
    return h.digest()


def write_snapshot(path: str | os.PathLike[str], store: LmdbStore, raft_data: Any) -> int:
    """Write `raft_data` and a consistent LMDB copy to `path`; return the applied index."""
    raft_bytes = pickle.dumps(raft_data, protocol=pickle.HIGHEST_PROTOCOL)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\0" * HEADER_SIZE)
        _write_all(fd, raft_bytes)
        lmdb_start = HEADER_SIZE + len(raft_bytes)
        os.lseek(fd, lmdb_start, os.SEEK_SET)
        applied_index = store.copy_to_fd(fd)
        end = os.fstat(fd).st_size
        lmdb_len = end - lmdb_start
        digest = _hash_range(fd, HEADER_SIZE, end - HEADER_SIZE)
        header = _HEADER.pack(MAGIC, VERSION, len(raft_bytes), lmdb_len, digest, applied_index)
        os.pwrite(fd, header, 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    return applied_index


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_header(fd: int) -> tuple[int, int, bytes, int]:
    """Return (raft_len, lmdb_len, sha256, applied_index) after checking magic and size."""
    raw = os.pread(fd, HEADER_SIZE, 0)
    if len(raw) != HEADER_SIZE:
        raise SnapshotError(f"snapshot header truncated ({len(raw)} of {HEADER_SIZE} bytes)")
    magic, version, raft_len, lmdb_len, digest, applied_index = _HEADER.unpack(raw)
    if magic != MAGIC or version != VERSION:
        raise SnapshotError(f"not a zennode snapshot (magic {magic!r}, version {version})")
    size = os.fstat(fd).st_size
    expected = HEADER_SIZE + raft_len + lmdb_len
    if size != expected:
        raise SnapshotError(f"snapshot is {size} bytes, header says {expected}")
    return raft_len, lmdb_len, digest, applied_index


def verify_snapshot(path: str | os.PathLike[str]) -> tuple[Any, int]:
    """Check lengths and checksum; return (raft_data, applied_index). Raises SnapshotError."""
    fd = os.open(path, os.O_RDONLY)
    try:
        raft_len, lmdb_len, digest, applied_index = read_header(fd)
        if _hash_range(fd, HEADER_SIZE, raft_len + lmdb_len) != digest:
            raise SnapshotError("snapshot checksum mismatch")
        raft_data = pickle.loads(os.pread(fd, raft_len, HEADER_SIZE))
    finally:
        os.close(fd)
    return raft_data, applied_index


def _extract_lmdb(path: str | os.PathLike[str], dest: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        raft_len, lmdb_len, _, _ = read_header(fd)
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            pos, remaining = HEADER_SIZE + raft_len, lmdb_len
            while remaining > 0:
                chunk = os.pread(fd, min(_READ_CHUNK, remaining), pos)
                if not chunk:
                    raise SnapshotError("snapshot ended while extracting the LMDB copy")
                _write_all(out, chunk)
                pos += len(chunk)
                remaining -= len(chunk)
        finally:
            os.close(out)
    finally:
        os.close(fd)


def _link_over(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Make `dest` another name of `src` atomically (hard link, then rename)."""
    tmp = f"{dest}.link-tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.link(src, tmp)
    os.replace(tmp, dest)


class SnapshotCodec:
    """The `serializer` / `deserializer` pair for one partition replica's SyncObjConf.

    Both run on the Raft tick thread, as does every apply, so the LMDB copy is consistent
    with the applied index it records.

    PySyncObj writes a received snapshot over its `fullDumpFile` before calling the
    deserializer, so a bad transfer would destroy the replica's own good dump (and with a
    compacted journal, the replica could not start again). The codec therefore keeps a hard
    link `<dump>.good` to the last dump it wrote or verified and puts it back on a failure.
    """

    def __init__(self, store: LmdbStore, dump_file: str | os.PathLike[str]) -> None:
        self.store = store
        self.dump_file = str(dump_file)
        self.good_file = self.dump_file + GOOD_SUFFIX
        self.installs = 0  # snapshots that replaced the env (for status and tests)
        self.refused = 0  # snapshots refused as corrupt

    def serialize(self, file_name: str, raft_data: Any) -> None:
        applied = write_snapshot(file_name, self.store, raft_data)
        _link_over(file_name, self.good_file)
        log.info("snapshot written at applied index %d (%s)", applied, file_name)

    def deserialize(self, file_name: str) -> Any:
        try:
            raft_data, snap_index = verify_snapshot(file_name)
        except (SnapshotError, OSError, pickle.UnpicklingError, EOFError) as exc:
            self.refused += 1
            self._restore_good(file_name)
            log.error("refused snapshot %s: %s", file_name, exc)
            raise SnapshotError(str(exc)) from exc
        local_index = self.store.applied_index()
        if snap_index > local_index:
            tmp = Path(self.store.path.parent, self.store.path.name + ".snapshot-data.mdb")
            _extract_lmdb(file_name, tmp)
            self.store.replace_from(tmp)
            self.installs += 1
            log.info("snapshot installed: applied index %d -> %d", local_index, snap_index)
        if os.path.abspath(file_name) != os.path.abspath(self.good_file):
            _link_over(file_name, self.good_file)
        return raft_data

    def _restore_good(self, bad_file: str) -> None:
        if os.path.exists(self.good_file):
            if not os.path.samefile(self.good_file, bad_file):
                _link_over(self.good_file, bad_file)
        elif os.path.exists(bad_file):
            # No good dump means this replica never compacted its journal: drop the bad file.
            os.remove(bad_file)
