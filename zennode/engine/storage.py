"""The engine's view of storage: ordered key-value tables inside one transaction.

The engine never sees LMDB. It reads and writes bytes in named tables through `KVRead` /
`KVWrite`; `zennode.state.lmdb_store` implements them on LMDB (one named database per table)
and `MemoryStore` below implements them for fast, pure tests. Keys are compared as raw bytes
(big-endian integers sort numerically), exactly as LMDB orders them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

# Every table the engine may use. Stores open exactly these (LMDB needs max_dbs up front).
TABLES: tuple[str, ...] = (
    "meta",  # counters and partition-level values
    "definitions",  # definition key -> definition record
    "definitions_by_id",  # bpmnProcessId \0 version(8B) -> definition key
    "instances",  # process instance key -> instance record
    "element_instances",  # element instance key -> element instance record
    "jobs",  # job key -> job record
    "jobs_by_state",  # state \0 type \0 key(8B) -> b"" (listing and activation)
    "jobs_by_instance",  # instance key(8B) key(8B) -> b""
    "jobs_by_deadline",  # deadline(8B) key(8B) -> b"" (lock expiry)
    "incidents",  # incident key -> incident record
    "incidents_by_instance",  # instance key(8B) key(8B) -> b""
    "timers",  # due(8B) key(8B) -> timer record (later issues)
    "messages",  # message records (later issues)
    "subscriptions",  # message subscriptions (later issues)
    "index",  # free-form secondary indexes owned by the engine
    "decisions",  # deployed DMN decisions and their documents (engine/decisions.py)
)


class KVRead(Protocol):
    def get(self, table: str, key: bytes) -> bytes | None: ...

    def scan(
        self,
        table: str,
        prefix: bytes = b"",
        start: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield (key, value) with `key.startswith(prefix)` in key order.

        `start` (inclusive) skips keys below it (above it when `reverse`).
        """
        ...


class KVWrite(KVRead, Protocol):
    def put(self, table: str, key: bytes, value: bytes) -> None: ...

    def delete(self, table: str, key: bytes) -> None: ...

    def write_rows(self, table: str, rows: Mapping[bytes, bytes | None]) -> None:
        """Put every row of `rows` (delete it where the value is None), as `put` and `delete`
        one by one would: how a command's overlay is written, one call per table."""
        ...


_TABLE_SET = frozenset(TABLES)


def _check_table(table: str) -> None:
    if table not in _TABLE_SET:
        raise KeyError(f"unknown table {table!r}")


class MemoryTxn:
    """A write transaction over `MemoryStore` that commits only on success."""

    def __init__(self, tables: dict[str, dict[bytes, bytes]], write: bool) -> None:
        self._base = tables
        self._write = write
        self._puts: dict[str, dict[bytes, bytes | None]] = {}

    def get(self, table: str, key: bytes) -> bytes | None:
        _check_table(table)
        overlay = self._puts.get(table)
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._base[table].get(key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self.write_rows(table, {bytes(key): bytes(value)})

    def delete(self, table: str, key: bytes) -> None:
        self.write_rows(table, {bytes(key): None})

    def write_rows(self, table: str, rows: Mapping[bytes, bytes | None]) -> None:
        _check_table(table)
        if not self._write:
            raise RuntimeError("read-only transaction")
        self._puts.setdefault(table, {}).update(rows)

    def scan(
        self,
        table: str,
        prefix: bytes = b"",
        start: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        _check_table(table)
        merged = dict(self._base[table])
        for key, value in self._puts.get(table, {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        keys = sorted(k for k in merged if k.startswith(prefix))
        if start is not None:
            if reverse:
                keys = keys[: bisect.bisect_right(keys, start)]
            else:
                keys = keys[bisect.bisect_left(keys, start) :]
        if reverse:
            keys.reverse()
        for key in keys:
            yield key, merged[key]

    def commit(self) -> None:
        for table, overlay in self._puts.items():
            base = self._base[table]
            for key, value in overlay.items():
                if value is None:
                    base.pop(key, None)
                else:
                    base[key] = value
        self._puts = {}


class MemoryStore:
    """In-memory tables for engine tests; same ordering and semantics as the LMDB store."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[bytes, bytes]] = {name: {} for name in TABLES}

    @contextmanager
    def write(self) -> Iterator[MemoryTxn]:
        txn = MemoryTxn(self.tables, write=True)
        yield txn
        txn.commit()

    @contextmanager
    def read(self) -> Iterator[MemoryTxn]:
        yield MemoryTxn(self.tables, write=False)
