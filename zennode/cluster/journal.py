"""The Raft log on disk: PySyncObj's journal interface, made durable with group commit.

PySyncObj 0.3.17's own `FileJournal` appends to an mmap'd file that nothing ever syncs, so an
entry a follower acknowledged, or a vote it granted, can vanish in a power loss; Raft's safety
rests on neither ever happening (../shared/reference/pysyncobj-findings.md §2). This module
replaces it, in two parts:

- `RaftJournal`, the log file and the term/vote file. Entries are appended with `pwrite` on the
  Raft tick thread (page cache only, microseconds); a **syncer thread** then runs `fdatasync`
  for everything appended since the last one (group commit: one sync covers every entry
  appended meanwhile, however many batches, ticks or followers' messages they came in) and
  wakes the tick thread. The term and vote are written and synced *before* `setCurrentTerm`
  returns, i.e. before PySyncObj sends the vote or the answer that depends on them.
- `DurableRaft`, a mixin for the SyncObj subclass (`partition._RaftGroup`) that makes
  PySyncObj wait for those syncs where Raft must: a follower's AppendEntries acknowledgement
  (`next_node_idx`) is held until the entries it acknowledges are synced, and a leader counts
  its own copy of an entry towards the commit majority only once it is synced (its followers'
  copies count when they acknowledge, so the leader's sync runs in parallel with theirs).

With `durable=False` (`raft.fsync: false`) nothing is synced and nothing waits: the journal is
then as durable as PySyncObj's own (it survives a process kill, not a power loss).

File formats (little-endian):

    raft.log:  magic (16 B) | record* ; record = payload_len u32 | crc32 u32 | index u64 |
               term u64 | payload. The CRC covers length, index, term and payload. Loading
               stops at the first record that is torn, fails its CRC, or breaks the index
               sequence, and cuts the file there: only an unsynced (never acknowledged) tail
               can be cut.
    raft.meta: two 512-byte slots written alternately, each seq u64 | term u64 | commit u64 |
               vote_len u16 | vote (pickle) | ... | crc32 u32 (last 4 bytes); the valid slot
               with the highest seq wins, so a torn write leaves the previous one.

Compaction (`deleteEntriesTo`) and `clear` write a new file, sync it, rename it over the old
one and sync the directory; a real conflict truncation (`deleteEntriesFrom` followed by a
different entry) cuts the file and syncs before the new entry is written, so no torn mix of
old and new entries can survive. PySyncObj also "truncates" whenever a leader re-sends entries
a follower already has; those re-sent entries are recognised (same index and term, hence the
same entry) and not written again.
"""

from __future__ import annotations

import bisect
import logging
import os
import pickle
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysyncobj import SyncObj
from pysyncobj.journal import Journal
from pysyncobj.node import Node as RaftPeer

from zennode.state.files import fsync_dir

log = logging.getLogger(__name__)

LOG_FILE = "raft.log"
META_FILE = "raft.meta"
STOCK_JOURNAL_FILE = "raft.journal"  # PySyncObj's FileJournal, used before this module
_MAGIC = b"ZNRAFTLOG\x00v1\x00\x00\x00\x00"
assert len(_MAGIC) == 16
_RECORD = struct.Struct("<IIQQ")  # payload length, crc32, index, term
_CRC_FIELDS = struct.Struct("<IQQ")  # what the CRC covers besides the payload
_SLOT_BYTES = 512
_SLOT_HEAD = struct.Struct("<QQQH")  # seq, term, commit index, vote length
_VOTE_MAX = _SLOT_BYTES - _SLOT_HEAD.size - 4
_RAFT_LEADER_STATE = 2  # pysyncobj.syncobj._RAFT_STATE.LEADER
LATENCY_SAMPLES = 4096  # recent fsync latencies kept for the status percentiles


def _crc(length: int, index: int, term: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_CRC_FIELDS.pack(length, index, term)))


class JournalFailed(OSError):
    """The disk refused a journal write or sync (ENOSPC, EIO, ...). The journal takes no
    more writes: after a failed fsync the kernel may have dropped the dirty pages and report
    the next fsync as a success (PostgreSQL's "fsyncgate"), so retrying could acknowledge
    entries that are not on disk. The replica stops instead (`DurableRaft`); restarting the
    node after the disk is fixed reads back what is really there."""


class RaftJournal(Journal):
    """PySyncObj's `Journal` on a file of our own, with group-committed `fdatasync`.

    `add`, `deleteEntries*`, `clear` and the term/commit setters run on the Raft tick thread;
    the syncer thread only syncs. `on_synced` (set by `DurableRaft`) is called on the syncer
    thread after every sync and must only wake the tick thread.
    """

    def __init__(self, directory: Path, durable: bool = True, name: str = "raft") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self.name = name
        self._path = self.directory / LOG_FILE
        self._meta_path = self.directory / META_FILE
        self._entries: list[tuple[bytes, int, int]] = []
        self._ends: list[int] = []  # file offset just past each entry's record
        self._seqs: list[int] = []  # write sequence number of each entry's record
        # Entries PySyncObj dropped from the end but that are still in the file, in file
        # order: (entry, end offset, seq). Re-sent identical entries are taken back from here.
        self._shadow: deque[tuple[tuple[bytes, int, int], int, int]] = deque()
        self._cond = threading.Condition()
        self._fd_lock = threading.Lock()  # held while the file is synced, replaced or closed
        self._write_seq = 0  # bumped by every write to the log file
        self._synced_seq = 0  # every write up to this one is on disk
        self._epoch = 0  # bumped when the file is replaced or cut (a running sync is stale)
        self._closed = False
        self.failed: str | None = None  # why the disk refused us; set once, never cleared
        self.on_synced: Callable[[], None] | None = None
        self.on_fsync: Callable[[float], None] | None = None  # latency observer (metrics)
        self.fsyncs = 0
        self.fsync_seconds = 0.0
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._term, self._vote, self._commit, self._meta_seq = 0, None, 1, 0
        self._import_stock_journal()
        self._fd = self._open_log()
        self._term, self._vote, self._commit, self._meta_seq = self._load_meta()
        self._saved_commit = self._commit
        self._syncer: threading.Thread | None = None
        if durable:
            self._syncer = threading.Thread(
                target=self._sync_loop, name=f"{name}-fsync", daemon=True
            )
            self._syncer.start()

    # Loading.

    def _import_stock_journal(self) -> None:
        """A data directory written before this module has PySyncObj's journal: carry its
        entries, term and vote over (starting with an empty log would make the replica skip
        new entries as already applied by its LMDB)."""
        stock = self.directory / STOCK_JOURNAL_FILE
        if self._path.exists() or not stock.exists():
            return
        from pysyncobj.journal import FileJournal

        old = FileJournal(str(stock))
        entries = [(bytes(old[i][0]), old[i][1], old[i][2]) for i in range(len(old))]
        self._term, self._vote = old.getCurrentTerm(), old.getVotedForNodeId()
        self._commit = old.getRaftCommitIndex()
        old._destroy()
        self._store_meta()
        self._write_new_file(self._path, entries)
        for suffix in ("", ".meta"):
            source = stock.with_name(stock.name + suffix)
            if source.exists():
                os.replace(source, source.with_name(source.name + ".imported"))
        log.info("%s: imported %d entries from %s", self._path, len(entries), stock)

    def _open_log(self) -> int:
        if not self._path.exists():
            self._write_new_file(self._path, [])
        fd = os.open(self._path, os.O_RDWR)
        data = b""
        size = os.fstat(fd).st_size
        if size:
            data = os.pread(fd, size, 0)
        end = len(_MAGIC)
        if size < len(_MAGIC):  # created, but the header never reached the disk
            os.ftruncate(fd, 0)
            os.pwrite(fd, _MAGIC, 0)
            data, size = _MAGIC, len(_MAGIC)
        elif data[: len(_MAGIC)] != _MAGIC:
            os.close(fd)
            raise OSError(f"{self._path} is not a zennode Raft log")
        prev: tuple[int, int] | None = None
        while end + _RECORD.size <= len(data):
            length, crc, index, term = _RECORD.unpack_from(data, end)
            start = end + _RECORD.size
            payload = data[start : start + length]
            if len(payload) != length or _crc(length, index, term, payload) != crc:
                break
            if prev is not None and (index != prev[0] + 1 or term < prev[1]):
                break
            end = start + length
            self._entries.append((payload, index, term))
            self._ends.append(end)
            self._seqs.append(0)
            prev = (index, term)
        if end < size:
            log.warning(
                "%s: cutting %d bytes after the last whole entry (an unsynced tail)",
                self._path,
                size - end,
            )
            os.ftruncate(fd, end)
        # What a killed process wrote may still be only in the page cache: sync it before
        # this process acknowledges any of it.
        self._sync_fd(fd)
        self._end = end
        return fd

    def _load_meta(self) -> tuple[int, Any, int, int]:
        try:
            fd = os.open(self._meta_path, os.O_RDWR)
        except FileNotFoundError:
            return 0, None, 1, 0
        try:
            raw = os.pread(fd, 2 * _SLOT_BYTES, 0)
            self._sync_fd(fd)  # the term and vote this process will act on must be on disk
        finally:
            os.close(fd)
        best: tuple[int, int, Any, int] | None = None
        for slot in (0, 1):
            chunk = raw[slot * _SLOT_BYTES : (slot + 1) * _SLOT_BYTES]
            if len(chunk) != _SLOT_BYTES:
                continue
            if zlib.crc32(chunk[:-4]) != struct.unpack("<I", chunk[-4:])[0]:
                continue
            seq, term, commit, vote_len = _SLOT_HEAD.unpack_from(chunk)
            vote = pickle.loads(chunk[_SLOT_HEAD.size : _SLOT_HEAD.size + vote_len])
            if best is None or seq > best[0]:
                best = (seq, term, vote, commit)
        if best is None:
            return 0, None, 1, 0
        seq, term, vote, commit = best
        return term, vote, commit, seq

    # Writing.

    def _sync_fd(self, fd: int) -> None:
        if self.durable:
            os.fdatasync(fd)

    def _write_new_file(self, path: Path, entries: list[tuple[bytes, int, int]]) -> list[int]:
        """Write `entries` to a fresh file that replaces `path` atomically; return the ends."""
        if self.failed is not None:
            raise JournalFailed(self.failed)
        try:
            return self._write_new_file_unchecked(path, entries)
        except OSError as exc:
            raise self._fail(f"rewriting {path.name}: {exc}") from exc

    def _write_new_file_unchecked(
        self, path: Path, entries: list[tuple[bytes, int, int]]
    ) -> list[int]:
        tmp = path.with_name(path.name + ".new")
        ends: list[int] = []
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            chunks = [_MAGIC]
            offset = len(_MAGIC)
            for command, index, term in entries:
                length = len(command)
                chunks.append(_RECORD.pack(length, _crc(length, index, term, command), index, term))
                chunks.append(command)
                offset += _RECORD.size + length
                ends.append(offset)
            data = b"".join(chunks)
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {tmp.name}")
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if self.durable:
            fsync_dir(path.parent)
        return ends

    def add(self, command: Any, idx: int, term: int) -> None:
        if self.failed is not None:
            raise JournalFailed(self.failed)
        command = bytes(command)
        if self._shadow:
            (old, old_end, old_seq) = self._shadow[0]
            if old[1] == idx and old[2] == term:
                # A re-sent entry this file already holds (same index and term: same entry).
                self._shadow.popleft()
                self._entries.append((command, idx, term))
                self._ends.append(old_end)
                self._seqs.append(old_seq)
                return
            self._cut_file()
        length = len(command)
        header = _RECORD.pack(length, _crc(length, idx, term, command), idx, term)
        record = _RECORD.size + length
        try:
            written = os.pwritev(self._fd, [header, command], self._end)
        except OSError as exc:
            raise self._fail(f"writing entry {idx}: {exc}") from exc
        if written != record:  # e.g. the disk filled up part-way through the record
            raise self._fail(f"writing entry {idx}: {written} of {record} bytes written")
        self._end += record
        with self._cond:
            self._write_seq += 1
            seq = self._write_seq
            self._cond.notify()
        self._entries.append((command, idx, term))
        self._ends.append(self._end)
        self._seqs.append(seq)

    def _cut_file(self) -> None:
        """Make a pending truncation real before a different entry is written in its place:
        cut the file and sync, so old and new entries can never be mixed after a crash."""
        cut_at = self._ends[-1] if self._ends else len(_MAGIC)
        self._shadow.clear()
        with self._fd_lock:
            os.ftruncate(self._fd, cut_at)
            self._sync_fd(self._fd)
            self._end = cut_at
            self._mark_all_synced()

    def _mark_all_synced(self) -> None:
        with self._cond:
            self._epoch += 1
            self._synced_seq = self._write_seq

    def clear(self) -> None:
        self._replace_with([])

    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802 - PySyncObj's name
        tail = slice(entryFrom, None)
        removed = list(zip(self._entries[tail], self._ends[tail], self._seqs[tail], strict=True))
        del self._entries[entryFrom:], self._ends[entryFrom:], self._seqs[entryFrom:]
        self._shadow.extendleft(reversed(removed))

    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802 - PySyncObj's name
        self._replace_with(self._entries[entryTo:])

    def _replace_with(self, entries: list[tuple[bytes, int, int]]) -> None:
        self._shadow.clear()
        with self._fd_lock:
            ends = self._write_new_file(self._path, entries)
            os.close(self._fd)
            self._fd = os.open(self._path, os.O_RDWR)
            self._end = ends[-1] if ends else len(_MAGIC)
            self._entries = list(entries)
            self._ends = ends
            self._mark_all_synced()
            self._seqs = [self._write_seq] * len(entries)
        self._wake()

    def __getitem__(self, item: Any) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    # Term, vote and commit index.

    def setCurrentTerm(self, term: int, votedForNodeId: Any) -> None:  # noqa: N802, N803
        """Raft requires the term and vote on disk before any message that reflects them."""
        self._term, self._vote = term, votedForNodeId
        self._store_meta()

    def getCurrentTerm(self) -> int:  # noqa: N802
        return self._term

    def getVotedForNodeId(self) -> Any:  # noqa: N802
        return self._vote

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:  # noqa: N802, N803
        self._commit = raftCommitIndex  # stored once a second (it only saves replay work)

    def getRaftCommitIndex(self) -> int:  # noqa: N802
        # Never past the log: after a power loss the unsynced tail may be gone.
        last = self._entries[-1][1] if self._entries else 1
        return max(1, min(self._commit, last))

    def onOneSecondTimer(self) -> None:  # noqa: N802
        if self._commit != self._saved_commit:
            self._store_meta()

    def _store_meta(self) -> None:
        vote = pickle.dumps(self._vote, protocol=pickle.HIGHEST_PROTOCOL)
        if len(vote) > _VOTE_MAX:
            raise ValueError(f"vote id of {len(vote)} bytes does not fit the meta slot")
        self._meta_seq += 1
        head = _SLOT_HEAD.pack(self._meta_seq, self._term, self._commit, len(vote))
        body = (head + vote).ljust(_SLOT_BYTES - 4, b"\0")
        slot = body + struct.pack("<I", zlib.crc32(body))
        created = not self._meta_path.exists()
        if self.failed is not None:
            raise JournalFailed(self.failed)
        try:
            fd = os.open(self._meta_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.pwrite(fd, slot, (self._meta_seq % 2) * _SLOT_BYTES) != len(slot):
                    raise OSError("short write of the term and vote slot")
                self._sync_fd(fd)
            finally:
                os.close(fd)
            if created and self.durable:
                fsync_dir(self.directory)
        except OSError as exc:  # no vote and no term without them on disk
            raise self._fail(f"writing term and vote: {exc}") from exc
        self._saved_commit = self._commit

    # Durability queries (tick thread).

    @property
    def write_seq(self) -> int:
        return self._write_seq

    def is_synced(self, seq: int) -> bool:
        return not self.durable or self._synced_seq >= seq

    def durable_index(self) -> int:
        """The Raft index of the last entry known to be on disk (0: none)."""
        if not self._entries:
            return 0
        if not self.durable:
            return self._entries[-1][1]
        pos = bisect.bisect_right(self._seqs, self._synced_seq)
        return self._entries[pos - 1][1] if pos else 0

    def latency_percentiles_ms(self) -> tuple[float | None, float | None]:
        samples = sorted(self._latencies)
        if not samples:
            return None, None
        p50 = samples[len(samples) // 2]
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        return round(p50 * 1000, 3), round(p99 * 1000, 3)

    # The syncer thread.

    def _sync_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and self._write_seq <= self._synced_seq:
                    self._cond.wait()
                if self._closed:
                    return
                target, epoch = self._write_seq, self._epoch
            with self._fd_lock:
                if epoch != self._epoch or self._closed:
                    continue  # the file was replaced or cut meanwhile, and synced then
                started = time.perf_counter()
                try:
                    os.fdatasync(self._fd)
                except OSError as exc:
                    self._fail(f"fdatasync: {exc}")
                    return  # never retried: see JournalFailed
                elapsed = time.perf_counter() - started
            self.fsyncs += 1
            self.fsync_seconds += elapsed
            self._latencies.append(elapsed)
            if self.on_fsync is not None:
                try:
                    self.on_fsync(elapsed)
                except Exception:  # noqa: BLE001 - metrics must not stop the syncer
                    log.exception("fsync observer failed")
            with self._cond:
                if epoch == self._epoch and target > self._synced_seq:
                    self._synced_seq = target
            self._wake()

    def _fail(self, why: str) -> JournalFailed:
        """Refuse every later write and wake the tick thread, which stops the replica."""
        if self.failed is None:
            self.failed = f"{self._path}: {why}"
            log.critical("Raft journal failed: %s", self.failed)
        self._wake()
        return JournalFailed(self.failed)

    def _wake(self) -> None:
        callback = self.on_synced
        if callback is not None:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a wake-up that fails is retried by the tick
                log.exception("waking the Raft tick thread failed")

    def _destroy(self) -> None:
        self.close()

    def close(self) -> None:
        """Sync everything (also when not durable: a clean stop leaves the log on disk)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._syncer is not None:
            self._syncer.join(timeout=10)
        with self._fd_lock:
            if self._shadow:
                os.ftruncate(self._fd, self._ends[-1] if self._ends else len(_MAGIC))
                self._shadow.clear()
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


class _Wakeup:
    """A pipe on the Raft tick thread's poller: the syncer writes a byte, the tick thread
    wakes in `poll` and runs `callback` (there it may use the transport)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poller: Any = None

    def attach(self, poller: Any) -> None:
        from pysyncobj.poller import POLL_EVENT_TYPE

        poller.subscribe(self._read, self._on_readable, POLL_EVENT_TYPE.READ)
        self._poller = poller

    def notify(self) -> None:
        try:
            os.write(self._write, b"w")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already
        except OSError:
            pass  # closed: the group is stopping

    def _on_readable(self, _descr: int, _event: int) -> None:
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass
        self._callback()

    def close(self) -> None:
        if self._poller is not None:
            self._poller.unsubscribe(self._read)
            self._poller = None
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass


class DurableRaft:
    """Mixin for a `SyncObj` subclass: PySyncObj waits for `RaftJournal`'s syncs where Raft
    must (pinned pysyncobj 0.3.17; tests/cluster/test_journal.py checks that the internals
    overridden here still exist):

    - `_SyncObj__raftLog` is a property: PySyncObj's `__init__` assigns the journal that
      `createJournal(conf.journalFile)` made (a memory journal: the conf has no journal file)
      and the setter keeps ours instead.
    - `_SyncObj__sendNextNodeIdx` (a follower's answer to AppendEntries) is held back while the
      journal has unsynced writes, and sent, in order, once they are synced.
    - `_SyncObj__raftCommitIndex` is a property: when the leader's commit loop moves it, the
      setter keeps only what a majority holds on disk, counting the leader's own copy only up
      to `journal.durable_index()` (followers acknowledge only synced entries).

    Call `_durable_init(journal)` before `SyncObj.__init__` and `_durable_attach()` after it.
    """

    _journal: RaftJournal
    _commit_index: int

    def _durable_init(self, journal: RaftJournal) -> None:
        self._journal = journal
        self._commit_index = 0
        self._held_acks: deque[tuple[int, RaftPeer, bool, int, bool]] = deque()
        self._wakeup = _Wakeup(self._durable_on_tick)
        self._wakeup_attached = False
        journal.on_synced = self._wakeup.notify

    def _durable_attach(self) -> None:
        """After SyncObj.__init__: hook the wake-up pipe into the poller on the tick thread."""
        group: Any = self
        group.addOnTickCallback(self._durable_on_tick)

    def _durable_on_tick(self) -> None:
        """Tick thread: attach the wake-up pipe once, then send acks whose entries are synced."""
        if not self._wakeup_attached:
            self._wakeup_attached = True
            self._wakeup.attach(self._poller)  # type: ignore[attr-defined]
        if self._journal.failed is not None:
            self._held_acks.clear()  # never sent: those entries may not be on disk
            self._on_journal_failed(self._journal.failed)
            return
        held = self._held_acks
        while held and self._journal.is_synced(held[0][0]):
            _seq, node, reset, next_idx, success = held.popleft()
            SyncObj._SyncObj__sendNextNodeIdx(  # type: ignore[attr-defined]
                self, node, reset=reset, nextNodeIdx=next_idx, success=success
            )

    def _on_journal_failed(self, why: str) -> None:
        """The disk refused the journal (tick thread, every tick until the replica stops):
        the subclass stops this replica."""
        raise NotImplementedError

    def _durable_close(self) -> None:
        self._held_acks.clear()
        self._wakeup.close()

    @property
    def _SyncObj__raftLog(self) -> RaftJournal:  # noqa: N802
        return self._journal

    @_SyncObj__raftLog.setter
    def _SyncObj__raftLog(self, _stock_journal: Any) -> None:  # noqa: N802
        pass  # PySyncObj's memory journal from createJournal(None): ours is used instead

    def _SyncObj__sendNextNodeIdx(  # noqa: N802
        self,
        node: RaftPeer,
        reset: bool = False,
        nextNodeIdx: int | None = None,  # noqa: N803 - PySyncObj's keyword
        success: bool = False,
    ) -> None:
        journal = self._journal
        if nextNodeIdx is None:  # what PySyncObj computes, taken now (the log may change)
            nextNodeIdx = journal[-1][1] + 1
        seq = journal.write_seq
        if self._held_acks or not journal.is_synced(seq):
            self._held_acks.append((seq, node, reset, nextNodeIdx, success))
            return
        SyncObj._SyncObj__sendNextNodeIdx(  # type: ignore[attr-defined]
            self, node, reset=reset, nextNodeIdx=nextNodeIdx, success=success
        )

    @property
    def _SyncObj__raftCommitIndex(self) -> int:  # noqa: N802
        return self._commit_index

    @_SyncObj__raftCommitIndex.setter
    def _SyncObj__raftCommitIndex(self, value: int) -> None:  # noqa: N802
        floor = self._commit_index
        if (
            value > floor
            and self._journal.durable
            and getattr(self, "_SyncObj__raftState", 0) == _RAFT_LEADER_STATE
        ):
            value = self._durable_commit(floor, value)
        self._commit_index = value

    def _durable_commit(self, floor: int, proposed: int) -> int:
        """The highest index in (floor, proposed] of the current term that a majority holds
        on disk, the leader's own copy counted only up to its synced index; else `floor`."""
        durable = self._journal.durable_index()
        if proposed <= durable:
            return proposed
        group: Any = self
        others = group._SyncObj__otherNodes
        match = group._SyncObj__raftMatchIndex
        majority = (len(others) + 1) // 2 + 1
        term = group._SyncObj__raftCurrentTerm
        journal = self._journal
        first = journal[0][1]
        for index in range(proposed, floor, -1):
            count = (1 if index <= durable else 0) + sum(
                1 for node in others if match.get(node, 0) >= index
            )
            if count >= majority:
                # Entries of earlier terms commit only under one of the current term, and
                # terms never decrease along the log: nothing lower can qualify either.
                return index if journal[index - first][2] == term else floor
        return floor
