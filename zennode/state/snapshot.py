"""The Raft snapshot of a partition: PySyncObj's bookkeeping plus a copy of the LMDB env.

PySyncObj's default snapshot pickles the SyncObj's attributes, which here hold no data, so a
follower that installs it would end up empty. This codec is passed as its `serializer` /
`deserializer`. PySyncObj's own transfer had no offsets and no checksum, and one cut short once
crashed LMDB with SIGBUS; zennode.cluster.snapshot_transfer now sends the file in resumable
chunks, and the file carries its lengths and a SHA-256, which both ends verify before
anything is touched.

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
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysyncobj import SERIALIZER_STATE

from zennode.state.files import fsync_dir, fsync_file
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


def read_header(fd: int, partial: bool = False) -> tuple[int, int, bytes, int]:
    """Return (raft_len, lmdb_len, sha256, applied_index) after checking magic and size
    (`partial`: a file still being received, whose size is not checked)."""
    raw = os.pread(fd, HEADER_SIZE, 0)
    if len(raw) != HEADER_SIZE:
        raise SnapshotError(f"snapshot header truncated ({len(raw)} of {HEADER_SIZE} bytes)")
    magic, version, raft_len, lmdb_len, digest, applied_index = _HEADER.unpack(raw)
    if magic != MAGIC or version != VERSION:
        raise SnapshotError(f"not a zennode snapshot (magic {magic!r}, version {version})")
    size = os.fstat(fd).st_size
    expected = HEADER_SIZE + raft_len + lmdb_len
    if not partial and size != expected:
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


def _trim_index(raft_data: Any) -> int | None:
    """PySyncObj passes (entry R, entry R-1, cluster), entries as (command, index, term),
    and trims its journal to R-1 once the snapshot succeeds."""
    try:
        return int(raft_data[1][1])
    except (TypeError, IndexError, ValueError):
        return None


def _is_inode(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except FileNotFoundError:
        return False


class SnapshotCodec:
    """The `serializer` / `serializeChecker` / `deserializer` of one replica's SyncObjConf.

    Writing a snapshot copies and hashes the whole LMDB env. PySyncObj calls a custom
    serializer on its tick thread, so a large env would stall Raft past the election timeout.
    With `background=True` the copy runs on a thread of its own: LMDB's copy uses its own read
    transaction, so it is consistent while batches keep committing, and its applied index is
    at least the Raft index PySyncObj records for the snapshot (that is all a replica needs:
    entries up to the LMDB index are skipped on replay). PySyncObj renames its temp file over
    the dump as soon as the serializer returns, so the serializer only makes that temp file
    another name of the current dump (the rename is then a no-op); the copy starts at the next
    `check` (after that rename), the new dump replaces the old one when complete, and only
    then does `check` report SUCCESS and PySyncObj trim its journal.

    PySyncObj writes a received snapshot over its `fullDumpFile` before calling the
    deserializer, so a bad transfer would destroy the replica's own good dump (and with a
    compacted journal, the replica could not start again). The codec therefore keeps a hard
    link `<dump>.good` to the last dump it wrote or verified and puts it back on a failure.
    """

    def __init__(
        self,
        store: LmdbStore,
        dump_file: str | os.PathLike[str],
        background: bool = True,
        log_end_index: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        # The Raft index of the last journal entry (tick thread); see `check`.
        self.log_end_index = log_end_index
        self._trim_to: int | None = None  # the index PySyncObj trims the journal to on SUCCESS
        self.dump_file = str(dump_file)
        self.good_file = self.dump_file + GOOD_SUFFIX
        self.background = background
        self.installs = 0  # snapshots that replaced the env (for status and tests)
        self.refused = 0  # snapshots refused as corrupt
        self.written = 0  # snapshots this replica wrote
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every deserialize: a running write is then stale
        self._state = SERIALIZER_STATE.NOT_SERIALIZING
        self._thread: threading.Thread | None = None
        self._pending: tuple[Any, int, int] | None = None  # a write waiting for `check`

    def serialize(self, file_name: str, raft_data: Any) -> None:
        if not self.background:
            applied = write_snapshot(file_name, self.store, raft_data)
            _link_over(file_name, self.good_file)
            fsync_dir(Path(file_name).parent)
            self.written += 1
            log.info("snapshot written at applied index %d", applied)
            return
        with self._lock:
            try:
                if self._thread is not None or self._pending is not None:
                    raise RuntimeError("a snapshot is already being written")
                if os.path.exists(self.dump_file):
                    _link_over(self.dump_file, file_name)
                else:
                    open(file_name, "wb").close()  # nothing to keep; refused if loaded early
                # PySyncObj renames file_name over the dump when this returns. The copy starts
                # at the next `check` (same tick thread, so after that rename); if anything
                # else replaces the dump before it ends (a received snapshot), it is stale.
                self._pending = (raft_data, self._generation, os.stat(file_name).st_ino)
                self._trim_to = _trim_index(raft_data)
                self._state = SERIALIZER_STATE.SERIALIZING
            except Exception:  # noqa: BLE001 - raising here would wedge PySyncObj's serializer
                log.exception("preparing snapshot %s failed", file_name)
                self._state = SERIALIZER_STATE.FAILED

    def _write_in_background(self, raft_data: Any, generation: int, placeholder: int) -> None:
        partial = self.dump_file + ".writing"
        try:
            applied = write_snapshot(partial, self.store, raft_data)
            with self._lock:
                if generation != self._generation or not _is_inode(self.dump_file, placeholder):
                    # A snapshot was received or installed meanwhile: it wins.
                    os.remove(partial)
                    self._state = SERIALIZER_STATE.FAILED
                    return
                os.replace(partial, self.dump_file)
                _link_over(self.dump_file, self.good_file)
                # PySyncObj trims the Raft log when told SUCCESS: the new dump's name must be
                # on disk before that, or a power loss would leave the old dump with a log
                # that no longer reaches it.
                fsync_dir(Path(self.dump_file).parent)
                self.written += 1
                self._state = SERIALIZER_STATE.SUCCESS
            log.info("snapshot written at applied index %d", applied)
        except Exception:  # noqa: BLE001 - reported to PySyncObj as FAILED
            log.exception("writing snapshot %s failed", partial)
            with self._lock:
                self._state = SERIALIZER_STATE.FAILED

    def check(self) -> int:
        """PySyncObj's serializeChecker: SERIALIZING until done, then SUCCESS/FAILED once."""
        with self._lock:
            if self._pending is not None:
                self._thread = threading.Thread(
                    target=self._write_in_background,
                    args=self._pending,
                    name=f"snapshot-{os.path.basename(self.dump_file)}",
                    daemon=True,
                )
                self._pending = None
                self._thread.start()
            state = self._state
            if state == SERIALIZER_STATE.SUCCESS and not self._trim_is_safe():
                return SERIALIZER_STATE.SERIALIZING  # report success on a later tick
            if state in (SERIALIZER_STATE.SUCCESS, SERIALIZER_STATE.FAILED):
                self._state = SERIALIZER_STATE.NOT_SERIALIZING
                thread, self._thread = self._thread, None
            else:
                thread = None
        if thread is not None:
            thread.join(timeout=5)
        return state

    def _trim_is_safe(self) -> bool:
        """On SUCCESS PySyncObj keeps only journal entries from R-1 on. A follower whose
        leader re-sent overlapping entries may have truncated its journal below that
        meanwhile; trimming then would empty the journal and kill the replica (every tick
        raises IndexError, seen under load). Wait until the journal reaches R again."""
        if self.log_end_index is None or self._trim_to is None:
            return True
        return self.log_end_index() >= self._trim_to + 1

    def wait(self, timeout_s: float) -> None:
        """Let a snapshot being written finish (before the store closes)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout=timeout_s)

    def deserialize(self, file_name: str) -> Any:
        with self._lock:
            self._generation += 1
            return self._deserialize(file_name)

    def _deserialize(self, file_name: str) -> Any:
        try:
            raft_data, snap_index = verify_snapshot(file_name)
        except (SnapshotError, OSError, pickle.UnpicklingError, EOFError) as exc:
            self.refused += 1
            restored = self._restore_good(file_name)
            log.error("refused snapshot %s: %s", file_name, exc)
            if restored:
                # Load the last good dump instead of failing: PySyncObj goes on without any
                # dump after a failed load, and at start-up (a short transfer renamed over the
                # dump just before a crash) its compacted journal then wedges the replica. At
                # run time the leader sees the older index and sends its snapshot again.
                log.warning("loading the last good snapshot %s instead", self.good_file)
                return self._deserialize(self.good_file)
            raise SnapshotError(str(exc)) from exc
        # PySyncObj wrote the received file without syncing it and clears the Raft log when
        # this returns: the snapshot must be on disk first.
        fsync_file(file_name)
        fsync_dir(Path(file_name).parent)
        local_index = self.store.applied_index()
        if snap_index > local_index:
            tmp = Path(self.store.path.parent, self.store.path.name + ".snapshot-data.mdb")
            _extract_lmdb(file_name, tmp)
            self.store.replace_from(tmp)
            self.installs += 1
            log.info("snapshot installed: applied index %d -> %d", local_index, snap_index)
        if os.path.abspath(file_name) != os.path.abspath(self.good_file):
            _link_over(file_name, self.good_file)
            fsync_dir(Path(self.good_file).parent)
        return raft_data

    def _restore_good(self, bad_file: str) -> bool:
        """Put the last good dump back over `bad_file`; True if there was one to put back."""
        if os.path.exists(self.good_file):
            if not os.path.samefile(self.good_file, bad_file):
                _link_over(self.good_file, bad_file)
                return True
        elif os.path.exists(bad_file):
            # No good dump means this replica never compacted its journal: drop the bad file.
            os.remove(bad_file)
        return False
