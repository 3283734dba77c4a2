"""A per-command write overlay: a failed command changes nothing.

Commands read through the overlay and write into it; `Engine.apply` flushes it into the
partition's transaction only when the command succeeded. Scans merge the overlay with the
underlying transaction so a command sees its own writes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping

from zennode.engine.storage import TABLES, KVWrite

_DELETED = None
_TABLE_SET = frozenset(TABLES)


class Overlay:
    def __init__(self, txn: KVWrite) -> None:
        self._txn = txn
        self._writes: dict[str, dict[bytes, bytes | None]] = {}

    def get(self, table: str, key: bytes) -> bytes | None:
        writes = self._writes.get(table)
        if writes is not None and key in writes:
            return writes[key]
        return self._txn.get(table, key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        if table not in _TABLE_SET:
            raise KeyError(f"unknown table {table!r}")
        self._writes.setdefault(table, {})[key] = value

    def delete(self, table: str, key: bytes) -> None:
        if table not in _TABLE_SET:
            raise KeyError(f"unknown table {table!r}")
        self._writes.setdefault(table, {})[key] = _DELETED

    def scan(
        self,
        table: str,
        prefix: bytes = b"",
        start: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        base = self._txn.scan(table, prefix, start, reverse)
        writes = self._writes.get(table)
        if not writes:
            yield from base
            return
        mine = sorted(
            (k for k in writes if k.startswith(prefix) and _after(k, start, reverse)),
            reverse=reverse,
        )
        merged = heapq.merge(
            ((k, 0, v) for k, v in base),
            ((k, 1, writes[k]) for k in mine),
            key=lambda item: item[0],
            reverse=reverse,
        )
        pending: tuple[bytes, int, bytes | None] | None = None
        for item in merged:
            if pending is not None and pending[0] != item[0]:
                if pending[2] is not None:
                    yield pending[0], pending[2]
                pending = None
            if pending is None or item[1] == 1:  # the overlay wins over the base
                pending = item
        if pending is not None and pending[2] is not None:
            yield pending[0], pending[2]

    def write_rows(self, table: str, rows: Mapping[bytes, bytes | None]) -> None:
        if table not in _TABLE_SET:
            raise KeyError(f"unknown table {table!r}")
        self._writes.setdefault(table, {}).update(rows)

    def flush(self) -> None:
        """Write the command's rows into the transaction, one call per table."""
        txn = self._txn
        for table, writes in self._writes.items():
            txn.write_rows(table, writes)
        self._writes = {}


def _after(key: bytes, start: bytes | None, reverse: bool) -> bool:
    if start is None:
        return True
    return key <= start if reverse else key >= start
