"""Chunked, resumable snapshot transfer from a partition leader to a lagging follower.

PySyncObj 0.3.17 streams the dump file to a follower whose next index is below the leader's
log in `logCompactionBatchSize` chunks with no offsets: a broken connection cancels the
transmission and the next one starts from byte 0, and the follower truncates what it had. For
a dump of hundreds of MB on a flaky link that never finishes. This module replaces the three
transmission methods of PySyncObj's serializer object (the wire messages stay PySyncObj's
`append_entries` with a `serialized` field, plus one message of ours, the ack):

- `Sender` (leader, tick thread): per follower, it opens the dump once (the open file keeps
  that snapshot readable even if a newer one replaces the name) and first sends a *probe*:
  the snapshot's identity (applied index and SHA-256 from its header) and total size. The
  follower answers with how many bytes of that snapshot it already holds; the sender then
  sends chunks from there, at most `window_bytes` beyond the last ack (flow control: a cut
  connection loses at most one window, and the leader's tick never reads more than a window
  per round). When the follower acks the whole file (checksum verified), the sender sends
  PySyncObj's "last" marker and PySyncObj moves the follower's next index past the snapshot.
- `Receiver` (follower, tick thread): keeps `<dump>.partial`, self-describing through the
  snapshot header in its first bytes, so a transfer resumes after a reconnect *and* after a
  restart of the follower. A chunk at any other offset than the partial's length is dropped
  and answered with a rewind ack. When the partial is complete, a background thread checks
  its SHA-256 (hashing hundreds of MB on the tick thread would stall Raft); a bad file is
  deleted and the transfer starts over. On the last marker the verified partial is renamed
  over the dump and PySyncObj loads it through `SnapshotCodec.deserialize`, which checks the
  checksum again before it replaces the env.

The leader only reads a window of file bytes per round, so serving and applying on the
leader go on during a transfer; the install (extract + env swap) runs on the follower only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from zennode.state.snapshot import HEADER_SIZE, SnapshotError, read_header, verify_snapshot

log = logging.getLogger(__name__)

ACK_TYPE = "zn_snapshot_ack"  # our message; `_RaftGroup` routes it to `Sender.on_ack`
_CHUNK_TAG = "znsnap1"
PROBE = -1  # chunk offset of a probe: "how much of this snapshot do you hold?"

Ident = tuple[int, str]  # (applied index, sha256 hex) from the snapshot header


def snapshot_ident(fd: int) -> tuple[Ident, int]:
    """The identity and total size of the snapshot open at `fd` (header checked)."""
    raft_len, lmdb_len, digest, applied_index = read_header(fd)
    return (applied_index, digest.hex()), HEADER_SIZE + raft_len + lmdb_len


PROBE_RETRY_S = 0.5  # a probe not answered by then is sent again
STALL_S = 5.0  # no ack progress for this long: probe again (the follower lost track)


@dataclass
class _Outgoing:
    fd: int
    ident: Ident
    total: int
    next_offset: int | None = None  # None until the follower answered the probe
    acked: int = 0
    probed_at: float = -1e9  # monotonic time of the last probe
    progress_at: float = 0.0  # monotonic time of the last ack that moved `acked`


class Sender:
    """Leader side; one per replica. All methods run on the tick thread."""

    def __init__(
        self, dump_file: str, chunk_bytes: int, window_bytes: int, round_bytes: int | None = None
    ) -> None:
        """`round_bytes`: the most sent per send round (`begin_round`): each chunk costs the
        leader's tick thread a pickle, a seal and buffer copies (~5 ms per MiB on the sealed
        Raft transport; ~35 ms with PySyncObj's zlib + Fernet), so this bounds how long one
        round holds up its applies and client commands."""
        self.dump_file = dump_file
        self.chunk_bytes = chunk_bytes
        self.window_bytes = max(window_bytes, chunk_bytes)
        self.round_bytes = max(round_bytes or 2 * chunk_bytes, chunk_bytes)
        self._round_sent = 0
        self._out: dict[Hashable, _Outgoing] = {}
        self.bytes_sent = 0
        self.resumed = 0  # probes answered with a non-zero offset (a transfer resumed)
        self.completed = 0
        self.refused = 0  # times a dump failed its header check here and was not sent
        self._bad_dump: int | None = None  # inode of the last refused dump (log it once)

    def begin_round(self) -> None:
        """A new round of AppendEntries starts: the per-round budget is full again."""
        self._round_sent = 0

    def next_chunk(self, peer: Hashable) -> tuple[Any, bool, bool] | None:
        """PySyncObj's `getTransmissionData(peer)`: (payload, is_first, is_last) or None."""
        out = self._out.get(peer)
        if out is None:
            try:
                fd = os.open(self.dump_file, os.O_RDONLY)
            except FileNotFoundError:
                return None
            try:
                ident, total = snapshot_ident(fd)
            except (SnapshotError, OSError) as exc:
                inode = os.fstat(fd).st_ino
                os.close(fd)
                if inode != self._bad_dump:  # checked again each round; said once per file
                    self._bad_dump = inode
                    self.refused += 1
                    log.error("snapshot %s not sent: %s", self.dump_file, exc)
                return None
            out = self._out[peer] = _Outgoing(fd, ident, total)
        now = time.monotonic()
        if out.next_offset is not None and now - out.progress_at > STALL_S:
            out.next_offset = None  # acks stopped coming: ask where the follower is
        if out.next_offset is None:
            if now - out.probed_at < PROBE_RETRY_S:
                return None
            out.probed_at = now
            return (_CHUNK_TAG, out.ident, PROBE, out.total, b""), True, False
        if out.acked >= out.total:
            self._close(peer)
            self.completed += 1
            return (_CHUNK_TAG, out.ident, out.total, out.total, b""), False, True
        if out.next_offset >= out.total or out.next_offset - out.acked >= self.window_bytes:
            return None  # wait for acks (PySyncObj sends an empty heartbeat instead)
        if self._round_sent >= self.round_bytes:
            return None  # the next round goes on (`on_ack` asks for it early)
        data = os.pread(out.fd, min(self.chunk_bytes, out.total - out.next_offset), out.next_offset)
        if not data:
            log.error("snapshot %s shorter than its header says; restarting", self.dump_file)
            self._close(peer)
            return None
        offset = out.next_offset
        out.next_offset += len(data)
        self.bytes_sent += len(data)
        self._round_sent += len(data)
        return (_CHUNK_TAG, out.ident, offset, out.total, data), False, False

    def on_ack(self, peer: Hashable, message: dict[str, Any]) -> bool:
        """The follower holds `offset` bytes of `ident`; `rewind` means: send from there.
        True when there is something to send now (the caller starts a round early)."""
        out = self._out.get(peer)
        if out is None or tuple(message.get("ident", ())) != out.ident:
            return False  # an ack of a transfer this leader no longer runs
        offset = int(message["offset"])
        if offset < 0 or offset > out.total:
            return False
        if out.next_offset is None:
            if offset > 0:
                self.resumed += 1
                log.info("snapshot to %s resumes at byte %d of %d", peer, offset, out.total)
            out.next_offset = out.acked = offset
        elif message.get("rewind"):
            out.next_offset = out.acked = offset
        else:
            out.acked = max(out.acked, offset)
        out.progress_at = time.monotonic()
        assert out.next_offset is not None
        return out.acked >= out.total or out.next_offset - out.acked < self.window_bytes

    def cancel(self, peer: Hashable) -> None:
        """PySyncObj's `cancelTransmisstion(peer)`: the connection dropped."""
        self._close(peer)

    def close(self) -> None:
        for peer in list(self._out):
            self._close(peer)

    def _close(self, peer: Hashable) -> None:
        out = self._out.pop(peer, None)
        if out is not None:
            os.close(out.fd)


class Receiver:
    """Follower side; one per replica. `on_chunk` runs on the tick thread."""

    def __init__(self, dump_file: str, send_ack: Callable[[dict[str, Any]], None]) -> None:
        """`send_ack(message)` sends to the leader; it is only called from `on_chunk` and
        `flush` (the tick thread: PySyncObj's transport is not thread-safe)."""
        self.dump_file = dump_file
        self.partial_file = dump_file + ".partial"
        self._send_ack = send_ack
        self._acks: deque[dict[str, Any]] = deque(maxlen=64)  # bounded; the latest matter
        self._lock = threading.Lock()
        self._ident: Ident | None = None
        self._size = 0
        self._verified: Ident | None = None  # the complete partial whose checksum passed
        self._verifying: threading.Thread | None = None
        self.bytes_received = 0
        self.resumed = 0  # probes answered with a non-zero offset
        self.restarted = 0  # partials discarded (another snapshot, or a bad checksum)
        self._load_partial()

    def _load_partial(self) -> None:
        """A partial left by an earlier process: resume it if its header is complete."""
        try:
            fd = os.open(self.partial_file, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            raw_ident = _ident_of_partial(fd, size)
        finally:
            os.close(fd)
        if raw_ident is None:
            os.remove(self.partial_file)
            return
        self._ident, self._size = raw_ident, size

    def on_chunk(self, transmission: Any) -> bool:
        """PySyncObj's `setTransmissionData`: True when the dump file is ready to load."""
        try:
            payload, _first, last = transmission
            tag, ident, offset, total, data = payload
            ident = (int(ident[0]), str(ident[1]))
        except (TypeError, ValueError, IndexError):
            return False  # not ours (or None: a heartbeat while the leader waits for acks)
        if tag != _CHUNK_TAG:
            return False
        try:
            return self._on_chunk(ident, offset, total, data, last)
        finally:
            self.flush()

    def _on_chunk(self, ident: Ident, offset: int, total: int, data: bytes, last: bool) -> bool:
        with self._lock:
            if self._ident != ident:
                self._reset(ident)
            if offset == PROBE:
                if 0 < self._size < total:
                    self.resumed += 1
                self._answer_probe(ident, total)
                return False
            if last:
                if self._verified == ident and self._size == total:
                    os.replace(self.partial_file, self.dump_file)
                    self._ident, self._size, self._verified = None, 0, None
                    return True
                return False  # the leader starts over with a probe
            if offset != self._size:
                self._ack(ident, self._size, rewind=True)  # a gap: start again from our end
                return False
            self._append(data)
            if self._size >= total:
                self._start_verify(ident, total)
                return False
            self._ack(ident, self._size, rewind=False)
            return False

    def _answer_probe(self, ident: Ident, total: int) -> None:
        """Tell the leader how much we hold; a complete file only once its checksum passed
        (until then the verifying thread answers)."""
        if self._size < total:
            self._ack(ident, self._size, rewind=True)
        elif self._verified == ident:
            self._ack(ident, total, rewind=True)
        else:
            self._start_verify(ident, total)

    def _append(self, data: bytes) -> None:
        fd = os.open(self.partial_file, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            pos = self._size
            while view:
                written = os.pwrite(fd, view, pos)
                view = view[written:]
                pos += written
        finally:
            os.close(fd)
        self._size += len(data)
        self.bytes_received += len(data)

    def _reset(self, ident: Ident) -> None:
        if self._size > 0:
            self.restarted += 1
        if os.path.exists(self.partial_file):
            os.remove(self.partial_file)
        self._ident, self._size, self._verified = ident, 0, None

    def _start_verify(self, ident: Ident, total: int) -> None:
        if self._verifying is not None and self._verifying.is_alive():
            return
        thread = threading.Thread(
            target=self._verify, args=(ident, total), name="snapshot-verify", daemon=True
        )
        self._verifying = thread
        thread.start()

    def _verify(self, ident: Ident, total: int) -> None:
        try:
            _, applied = verify_snapshot(self.partial_file)
            good = applied == ident[0]
        except (SnapshotError, OSError, EOFError, ValueError) as exc:
            log.error("received snapshot %s failed its check: %s", self.partial_file, exc)
            good = False
        except Exception:  # noqa: BLE001 - an unpicklable header is a bad file too
            log.exception("received snapshot %s failed its check", self.partial_file)
            good = False
        with self._lock:
            if self._ident != ident:
                return  # another snapshot started meanwhile
            if good:
                self._verified = ident
                self._ack(ident, total, rewind=False)
            else:
                self._reset(ident)
                self._ack(ident, 0, rewind=True)

    def _ack(self, ident: Ident, offset: int, rewind: bool) -> None:
        self._acks.append({"type": ACK_TYPE, "ident": ident, "offset": offset, "rewind": rewind})

    def flush(self) -> None:
        """Send queued acks (tick thread: after each chunk, and as a tick callback for the
        ack of the verifying thread)."""
        while self._acks:
            try:
                ack = self._acks.popleft()
            except IndexError:
                return
            try:
                self._send_ack(ack)
            except Exception:  # noqa: BLE001 - a lost ack is answered by the next probe
                log.debug("snapshot ack not sent", exc_info=True)

    def stats(self) -> dict[str, int]:
        return {
            "bytes_received": self.bytes_received,
            "resumed": self.resumed,
            "restarted": self.restarted,
            "partial_bytes": self._size,
        }


def _ident_of_partial(fd: int, size: int) -> Ident | None:
    """The identity in a partial's header (its size check is skipped: the file is partial)."""
    if size < HEADER_SIZE:
        return None
    try:
        _, _, digest, applied_index = read_header(fd, partial=True)
    except SnapshotError:
        return None
    return applied_index, digest.hex()
