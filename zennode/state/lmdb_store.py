"""LMDB behind the engine's storage protocol: one environment per partition replica.

Each engine table (`zennode.engine.storage.TABLES`) is one named LMDB database, so keys sort
as raw bytes exactly like `MemoryStore`. A private database holds the Raft bookkeeping (the
applied Raft index, the last leader timestamp) and is written in the same transaction as the
batch it describes, which is what makes replay after a restart idempotent. The digest covers
only the engine tables, so replicas compare equal whatever their Raft history.

The digest is maintained as rows change, so reading it costs one `get` (topology and status
calls never scan the state): it is the sum modulo 2**256 of a hash of every (table, key,
value) row, a multiset hash that a put adds to (minus the row it replaced) and a delete
subtracts from. Each write transaction sums its changes and stores the new total in the
private database in the same commit, so the digest always describes exactly the committed
state, and a snapshot carries it. `kv_digest` computes the same value by a full scan (of any
`KVRead`), which is how the tests check the running total.

A write transaction holds the engine's puts and deletes in a buffer and writes each row to LMDB
once, when the transaction commits (or before a scan of its table reads LMDB, or when the
buffer reaches `WRITE_BUFFER_ROWS_MAX` rows). Why: a Raft batch rewrites the same rows command
after command (the key counter, the statistics counters of one definition, a job activated and
completed in one batch), and every LMDB write costs a B-tree update plus two row hashes for the
digest; buffered, a batch pays them once per distinct row. The committed rows and the digest
are exactly those of writing through (the digest is a sum over the final rows). Any failure
while writing buffered rows fails the whole transaction (it is never committed without them).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import lmdb

from zennode.engine.storage import TABLES, KVRead
from zennode.state.files import fsync_dir, fsync_file
from zennode.state.rwlock import RWLock

log = logging.getLogger(__name__)

RAFT_DB = b"__raft__"  # not an engine table: never in TABLES, never in the digest
_APPLIED_INDEX = b"applied_index"
_DIGEST = b"state_digest"  # the running digest of the engine tables (32 bytes)
_U64 = struct.Struct(">Q")
_DIGEST_MOD = 1 << 256

DEFAULT_MAP_SIZE_BYTES = 1 << 30  # sparse on Linux; grown on MapFullError
MAX_MAP_SIZE_BYTES = 1 << 40
SCAN_CHUNK_ITEMS = 128  # write-txn scans re-seek every chunk, so writes may interleave
WRITE_BUFFER_ROWS_MAX = 4096  # buffered rows of one table before they are written to LMDB
KEY_BYTES_MAX = 511  # LMDB's default maximum key size (checked when a put is buffered)

# Directory suffixes used while a snapshot replaces the environment (see `replace_from`).
_INCOMING = ".incoming"
_OLD = ".old"
_COMPLETE_MARK = "complete"


class StoreFull(Exception):
    """The LMDB map is full; the batch must be retried after `LmdbStore.grow()`."""


class StoreFailed(Exception):
    """The disk refused an LMDB write or sync (ENOSPC, EIO, ...), or LMDB refused a buffered
    row for another reason: unlike a full map this is not retried here; the transaction is
    not committed and the partition stops its replica (`Partition.halt`)."""


def _is_disk_error(exc: lmdb.Error) -> bool:
    """An LMDB error that comes from the file system, not from a key or a size limit."""
    return (
        isinstance(exc, (lmdb.DiskError, lmdb.PanicError))
        or "No space left" in str(exc)
        or ("Input/output error" in str(exc))
    )


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class LmdbTxn:
    """A `KVRead`/`KVWrite` over one LMDB transaction (read-only or read-write)."""

    def __init__(self, txn: lmdb.Transaction, dbs: dict[str, object], raft_db: object, write: bool):
        self._txn = txn
        self._dbs = dbs
        self._raft_db = raft_db
        self._write = write
        # Set when LMDB runs out of map space, even if a caller swallowed the exception:
        # the whole transaction is then unusable and must be aborted and retried.
        self.store_error: BaseException | None = None
        self.store_failed: BaseException | None = None  # LMDB refused a buffered row
        self.digest_delta = 0  # this transaction's change to the running digest
        # Rows written but not yet in LMDB: table -> key -> value (None: deleted).
        self._pending: dict[str, dict[bytes, bytes | None]] = {}

    def _db(self, table: str) -> object:
        _check_table(table)
        return self._dbs[table]

    def get(self, table: str, key: bytes) -> bytes | None:
        pending = self._pending.get(table)
        if pending is not None and key in pending:
            return pending[key]
        db = self._dbs.get(table)  # (`_db` inlined: every read of an apply comes here)
        if db is None:
            _check_table(table)  # raises: `_dbs` holds exactly the engine tables
        return self._txn.get(key, db=db)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self.write_rows(table, {bytes(key): bytes(value)})

    def delete(self, table: str, key: bytes) -> None:
        self.write_rows(table, {bytes(key): None})

    def write_rows(self, table: str, rows: Mapping[bytes, bytes | None]) -> None:
        """Buffer puts (and deletes: None); refused at once, as LMDB would refuse them, when
        the transaction is read-only or a key is empty or too long."""
        _check_table(table)
        if not self._write:
            raise RuntimeError("read-only transaction")
        if rows and not (0 < min(map(len, rows)) and max(map(len, rows)) <= KEY_BYTES_MAX):
            raise lmdb.BadValsizeError(f"keys must be 1 to {KEY_BYTES_MAX} bytes long")
        pending = self._pending.get(table)
        if pending is None:
            pending = self._pending[table] = {}
        pending.update(rows)
        if len(pending) >= WRITE_BUFFER_ROWS_MAX:
            self._write_through(table)

    def write_pending(self) -> None:
        """Write every buffered row to LMDB (the store calls this before it commits)."""
        for table in list(self._pending):
            self._write_through(table)

    def _write_through(self, table: str) -> None:
        """Write the buffered rows of `table` to LMDB and add their change to the digest.

        The rows leave the buffer only once all are written. A failure marks the whole
        transaction failed (`store_error` / `store_failed`, checked again before commit) even
        if the command that triggered the write (a scan, a full buffer) swallows it or is
        refused: the rows of earlier commands in the buffer must never be dropped from a
        batch that then commits."""
        self.raise_if_failed()
        pending = self._pending.get(table)
        if not pending:
            self._pending.pop(table, None)
            return
        db = self._dbs[table]
        txn = self._txn
        delta = 0
        try:
            for key, value in pending.items():
                if value is None:
                    old = txn.pop(key, db=db)
                    if old is not None:
                        delta -= row_hash(table, key, old)
                    continue
                old = txn.replace(key, value, db=db)
                if old != value:
                    delta += row_hash(table, key, value)
                    if old is not None:
                        delta -= row_hash(table, key, old)
        except lmdb.Error as exc:
            raise self._store_failure(exc, buffered=table) from exc
        del self._pending[table]
        self.digest_delta += delta

    def raise_if_failed(self) -> None:
        """Raise again the failure that made this transaction unusable, if one did."""
        if self.store_error is not None:
            raise StoreFull(str(self.store_error))
        if self.store_failed is not None:
            raise StoreFailed(str(self.store_failed))

    def _store_failure(self, exc: lmdb.Error, buffered: str | None = None) -> Exception:
        """Map a failed LMDB write. A full map poisons the txn (retried after
        `LmdbStore.grow()`); a refusing disk (spilled dirty pages hit it) stops the replica.
        A failure while writing the buffered rows of table `buffered` fails the whole
        transaction whatever its cause: those rows may belong to earlier commands of the
        batch, so no single command can be refused in its place."""
        if isinstance(exc, lmdb.MapFullError) or self.store_error is not None:
            if self.store_error is None:
                self.store_error = exc
            return StoreFull(str(exc))
        if buffered is not None or _is_disk_error(exc):
            self.store_failed = exc
            where = f"writing buffered rows of table {buffered!r}: " if buffered else ""
            return StoreFailed(f"{where}{exc}")
        return exc

    def scan(
        self,
        table: str,
        prefix: bytes = b"",
        start: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        db = self._db(table)
        if reverse:
            return self._scan_reverse(table, db, prefix, start)
        return self._scan_forward(table, db, prefix, start)

    def _chunk(self, table: str, db: object, seek, reverse: bool) -> list[tuple[bytes, bytes]]:
        """Read up to SCAN_CHUNK_ITEMS from a fresh cursor positioned by `seek(cursor)`; the
        table's buffered rows are written first, so a scan sees every write before it."""
        self._write_through(table)
        out: list[tuple[bytes, bytes]] = []
        with self._txn.cursor(db=db) as cur:
            ok = seek(cur)
            while ok and len(out) < SCAN_CHUNK_ITEMS:
                out.append((cur.key(), cur.value()))
                ok = cur.prev() if reverse else cur.next()
        return out

    def _scan_forward(
        self, table: str, db: object, prefix: bytes, start: bytes | None
    ) -> Iterator[tuple[bytes, bytes]]:
        lower = prefix if start is None or start < prefix else start
        inclusive = True
        while True:
            bound, incl = lower, inclusive

            def seek(cur, bound=bound, incl=incl) -> bool:
                if not bound:
                    ok = cur.first()
                else:
                    ok = cur.set_range(bound)
                if ok and not incl and cur.key() == bound:
                    ok = cur.next()
                return ok

            chunk = self._chunk(table, db, seek, reverse=False)
            for key, value in chunk:
                if not key.startswith(prefix):
                    return
                yield key, value
            if len(chunk) < SCAN_CHUNK_ITEMS:
                return
            lower, inclusive = chunk[-1][0], False

    def _scan_reverse(
        self, table: str, db: object, prefix: bytes, start: bytes | None
    ) -> Iterator[tuple[bytes, bytes]]:
        end = _prefix_end(prefix)  # exclusive upper bound of the prefix range
        upper: bytes | None
        if start is not None and (end is None or start < end):
            upper, inclusive = start, True
        else:
            upper, inclusive = end, False
        while True:
            bound, incl = upper, inclusive

            def seek(cur, bound=bound, incl=incl) -> bool:
                if bound is None:
                    return cur.last()
                if cur.set_range(bound):
                    if incl and cur.key() == bound:
                        return True
                    return cur.prev()
                return cur.last()

            chunk = self._chunk(table, db, seek, reverse=True)
            for key, value in chunk:
                if not key.startswith(prefix):
                    return
                yield key, value
            if len(chunk) < SCAN_CHUNK_ITEMS:
                return
            upper, inclusive = chunk[-1][0], False

    # Raft bookkeeping and the idempotency records, private to the partition layer.

    def raft_get(self, key: bytes) -> bytes | None:
        return self._txn.get(key, db=self._raft_db)

    def raft_put(self, key: bytes, value: bytes) -> None:
        if not self._write:
            raise RuntimeError("read-only transaction")
        try:
            self._txn.put(key, value, db=self._raft_db)
        except lmdb.Error as exc:
            raise self._store_failure(exc) from exc

    def raft_delete(self, key: bytes) -> None:
        if not self._write:
            raise RuntimeError("read-only transaction")
        try:
            self._txn.delete(key, db=self._raft_db)
        except lmdb.Error as exc:
            raise self._store_failure(exc) from exc

    def raft_first(self, prefix: bytes, limit: int) -> list[bytes]:
        """Up to `limit` keys starting with `prefix`, in key order (a bounded scan)."""
        keys: list[bytes] = []
        with self._txn.cursor(db=self._raft_db) as cur:
            ok = cur.set_range(prefix)
            while ok and len(keys) < limit:
                key = cur.key()
                if not key.startswith(prefix):
                    break
                keys.append(key)
                ok = cur.next()
        return keys

    def applied_index(self) -> int:
        raw = self.raft_get(_APPLIED_INDEX)
        return _U64.unpack(raw)[0] if raw is not None else 0

    def set_applied_index(self, index: int) -> None:
        self.raft_put(_APPLIED_INDEX, _U64.pack(index))


def row_hash(table: str, key: bytes, value: bytes) -> int:
    """The digest's share of one row (BLAKE2b-256 of the length-prefixed parts), hashed in one
    call: this runs twice for most rows a batch writes."""
    data = b"".join((_TABLE_PARTS[table], _U64.pack(len(key)), key, _U64.pack(len(value)), value))
    return int.from_bytes(_blake2b(data, digest_size=32).digest(), "big")


_blake2b = hashlib.blake2b
# Each table's name as it starts every row's hashed bytes: its length (8 bytes), then the name.
_TABLE_PARTS = {name: _U64.pack(len(name.encode())) + name.encode() for name in TABLES}


def _digest_text(total: int) -> str:
    return (total % _DIGEST_MOD).to_bytes(32, "big").hex()


def _full_total(txn: KVRead) -> int:
    total = 0
    for table in TABLES:
        for key, value in txn.scan(table):
            total += row_hash(table, key, value)
    return total % _DIGEST_MOD


def kv_digest(txn: KVRead) -> str:
    """The state digest by a full scan of every engine table (any KVRead): what the running
    digest of `LmdbStore.digest()` must equal."""
    return _digest_text(_full_total(txn))


def _recover_swap(path: Path) -> None:
    """Finish or undo an environment swap that a crash interrupted (see `replace_from`)."""
    incoming = path.with_name(path.name + _INCOMING)
    old = path.with_name(path.name + _OLD)
    if not path.exists():
        if (incoming / _COMPLETE_MARK).exists():
            os.rename(incoming, path)
        elif old.exists():
            os.rename(old, path)
    if incoming.exists():
        shutil.rmtree(incoming)
    if old.exists():
        shutil.rmtree(old)


class LmdbStore:
    """One partition replica's LMDB environment, with KV transactions the engine can use."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        map_size_bytes: int = DEFAULT_MAP_SIZE_BYTES,
        sync: bool = False,
    ) -> None:
        """`sync=True`: every commit is on disk before it returns (one `fdatasync`, LMDB's
        `MDB_NOMETASYNC`), so a power loss can undo at most the last commit and never leaves
        the environment corrupted. `sync=False` (`MDB_NOSYNC`): commits stay in the page cache;
        a process kill loses nothing, a power loss can lose or corrupt the environment."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _recover_swap(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._map_size = map_size_bytes
        self._sync = sync
        self._lock = RWLock()
        self._env: lmdb.Environment | None = None
        self._dbs: dict[str, object] = {}
        self._raft_db: object = None
        self._open()

    def _open(self) -> None:
        env = lmdb.open(
            str(self.path),
            map_size=self._map_size,
            max_dbs=len(TABLES) + 1,
            sync=self._sync,
            # The meta page is synced by the next commit: integrity is kept (LMDB writes the
            # meta page only after the data pages are synced), only the last commit may be
            # undone by a power loss, and the Raft log holds it.
            metasync=False,
            readahead=False,
        )
        if self._sync:
            env.sync(True)  # what a killed process left in the page cache, before we build on it
        # The map may have been grown by an earlier run: never open it smaller than the file.
        if env.info()["map_size"] > self._map_size:
            self._map_size = env.info()["map_size"]
        self._dbs = {name: env.open_db(name.encode()) for name in TABLES}
        self._raft_db = env.open_db(RAFT_DB)
        self._init_digest(env)
        self._env = env

    def _init_digest(self, env: lmdb.Environment) -> None:
        """An environment written before the running digest existed: compute it once (called
        while opening, under whatever lock the opener holds)."""
        with env.begin(write=True) as raw:
            txn = LmdbTxn(raw, self._dbs, self._raft_db, write=True)
            if txn.raft_get(_DIGEST) is None:
                txn.raft_put(_DIGEST, _full_total(txn).to_bytes(32, "big"))

    def _require_env(self) -> lmdb.Environment:
        if self._env is None:
            raise RuntimeError(f"LMDB store {self.path} is closed")
        return self._env

    @contextmanager
    def write(self) -> Iterator[LmdbTxn]:
        """A write transaction that commits only if the block finishes without an exception."""
        with self._lock.shared():
            env = self._require_env()
            raw = env.begin(write=True)
            txn = LmdbTxn(raw, self._dbs, self._raft_db, write=True)
            try:
                yield txn
                txn.write_pending()
                txn.raise_if_failed()
                if txn.digest_delta:
                    raw_total = txn.raft_get(_DIGEST)
                    total = int.from_bytes(raw_total, "big") if raw_total else 0
                    total = (total + txn.digest_delta) % _DIGEST_MOD
                    txn.raft_put(_DIGEST, total.to_bytes(32, "big"))
            except BaseException:
                raw.abort()
                raise
            try:
                raw.commit()
            except lmdb.MapFullError as exc:
                raise StoreFull(str(exc)) from exc
            except lmdb.Error as exc:  # written or synced pages refused by the disk
                raise StoreFailed(str(exc)) from exc

    @contextmanager
    def read(self) -> Iterator[LmdbTxn]:
        """A consistent read-only view; many may run at once, on any thread."""
        with self._lock.shared():
            env = self._require_env()
            raw = env.begin(write=False)
            try:
                yield LmdbTxn(raw, self._dbs, self._raft_db, write=False)
            finally:
                raw.abort()

    def applied_index(self) -> int:
        with self.read() as txn:
            return txn.applied_index()

    def digest(self) -> str:
        """The running digest of the engine tables (one read: no scan)."""
        with self.read() as txn:
            raw = txn.raft_get(_DIGEST)
            return _digest_text(int.from_bytes(raw, "big") if raw else 0)

    def size_bytes(self) -> int:
        """Bytes of the map in use (pages up to the last used one)."""
        with self._lock.shared():
            env = self._require_env()
            return (env.info()["last_pgno"] + 1) * env.stat()["psize"]

    @property
    def map_size_bytes(self) -> int:
        return self._map_size

    def sync(self) -> None:
        """Flush to disk (used for fsync per batch and before a clean stop)."""
        with self._lock.shared():
            self._require_env().sync(True)

    def grow(self) -> None:
        """Double the map size; call with no transaction open on this thread."""
        new_size = min(self._map_size * 2, MAX_MAP_SIZE_BYTES)
        if new_size <= self._map_size:
            raise StoreFull(f"LMDB map at its maximum of {self._map_size} bytes")
        with self._lock.exclusive():
            self._require_env().set_mapsize(new_size)
            self._map_size = new_size
        log.info("LMDB %s map grown to %d bytes", self.path, new_size)

    def copy_to_fd(self, fd: int) -> int:
        """Write a compacting copy of the environment at fd's offset; return its applied index.

        Compacting (`MDB_CP_COMPACT`): free pages are left out and the pages renumbered, so
        the copy's size follows the live data, not what retention already deleted. The
        applied index and the copy come from the same read transaction.
        """
        with self._lock.shared():
            env = self._require_env()
            with env.begin(write=False) as raw:
                index = LmdbTxn(raw, self._dbs, self._raft_db, write=False).applied_index()
                env.copyfd(fd, compact=True, txn=raw)
            return index

    def replace_from(self, data_file: str | os.PathLike[str]) -> None:
        """Swap in a verified `data.mdb` (a snapshot), crash-safely.

        The new file goes to `<path>.incoming/` (fsynced, then marked complete); the live env
        is closed, renamed to `<path>.old`, the incoming one renamed into place and reopened.
        A crash at any step is finished or undone by `_recover_swap` on the next open.
        """
        incoming = self.path.with_name(self.path.name + _INCOMING)
        old = self.path.with_name(self.path.name + _OLD)
        for leftover in (incoming, old):
            if leftover.exists():
                shutil.rmtree(leftover)
        incoming.mkdir()
        os.rename(data_file, incoming / "data.mdb")
        fsync_file(incoming / "data.mdb")
        (incoming / _COMPLETE_MARK).write_bytes(b"")
        fsync_dir(incoming)
        with self._lock.exclusive():
            self._require_env().close()
            self._env = None
            os.rename(self.path, old)
            os.rename(incoming, self.path)
            os.remove(self.path / _COMPLETE_MARK)
            fsync_dir(self.path.parent)
            self._open()
        shutil.rmtree(old)

    def close(self) -> None:
        with self._lock.exclusive():
            if self._env is not None:
                self._env.sync(True)
                self._env.close()
                self._env = None
