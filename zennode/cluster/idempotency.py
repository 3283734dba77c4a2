"""Idempotent commands: an `Idempotency-Key` and the first outcome, kept in replicated state.

A command may carry an envelope `{"key", "digest", "kind"}` in its wire form (the reserved
field `idempotency`). Every replica, while applying the batch (one LMDB transaction):

- looks the key up; found with the same digest: the first outcome is returned and nothing
  is applied; found with another digest (the key reused for a different request): a 422
  `IdempotencyConflict`, nothing applied;
- otherwise applies the command and stores key -> (digest, outcome, expiry) in the same
  transaction, so the record and the effect are durable (and replicated) together.

Two kinds of keys, each with its own window and count bound:
- `client`: the `Idempotency-Key` of an API request (default 24 h, 100,000 per partition);
- `node`: a key the node gives a forwarded command itself, so that it can retry one whose
  answer it lost (the peer died or the call broke after sending) without applying it twice
  (`replicas.node_key_window_ms`: a minute by default, 100,000 per partition).

Pruning is deterministic: at each batch the records whose expiry (the leader-stamped time of
their first apply plus the window) has passed are deleted, at most `PRUNE_PER_BATCH` a batch,
then the earliest-expiring ones while a kind is over its count. A retry after its record was
pruned is applied again. Keys are kept per partition: the same key sent for a command of
another partition is a different request there.

Storage (the partition's private `__raft__` database, never in the state digest):
`idem/<kind>/<key>` -> JSON record, `idex/<kind>/<expiry u64><key>` -> b"" (the expiry index),
`idcount/<kind>` -> u64.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

from zennode.engine.outcome import Outcome
from zennode.errors import IdempotencyConflict, ZennodeError, error_from_dict
from zennode.state.lmdb_store import LmdbTxn

ENVELOPE = "idempotency"  # the reserved field of a command's wire form
KINDS = ("client", "node")
KEY_BYTES_MAX = 255
PRUNE_PER_BATCH = 256
_U64 = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str
    digest: str  # of the request: the same key with another digest is a conflict
    kind: str = "client"

    def to_wire(self) -> dict[str, str]:
        return {"key": self.key, "digest": self.digest, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Limits:
    """Window (ms) and count bound per kind."""

    client_window_ms: int = 24 * 3600 * 1000
    client_keys_max: int = 100_000
    node_window_ms: int = 10 * 60 * 1000
    node_keys_max: int = 100_000

    def window_ms(self, kind: str) -> int:
        return self.client_window_ms if kind == "client" else self.node_window_ms

    def keys_max(self, kind: str) -> int:
        return self.client_keys_max if kind == "client" else self.node_keys_max


def request_digest(operation: str, **args: Any) -> str:
    """A digest of one API request: the operation and its arguments (canonical JSON)."""
    text = json.dumps([operation, args], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def attach(wire: dict[str, Any], idempotency: Idempotency) -> dict[str, Any]:
    return {**wire, ENVELOPE: idempotency.to_wire()}


def detach(command: dict[str, Any]) -> Idempotency | None:
    """Remove the envelope from a command about to be applied (None: there is none)."""
    raw = command.pop(ENVELOPE, None)
    if not isinstance(raw, dict):
        return None
    key, digest, kind = raw.get("key"), raw.get("digest"), raw.get("kind", "client")
    if not isinstance(key, str) or not isinstance(digest, str) or kind not in KINDS:
        return None
    return Idempotency(key[:KEY_BYTES_MAX], digest, kind)


def _record_key(kind: str, key: str) -> bytes:
    return f"idem/{kind}/".encode() + key.encode()


def _index_prefix(kind: str) -> bytes:
    return f"idex/{kind}/".encode()


def _count_key(kind: str) -> bytes:
    return f"idcount/{kind}".encode()


class Table:
    """The idempotency records of one partition replica (used inside the apply txn)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def lookup(self, txn: LmdbTxn, idempotency: Idempotency) -> Outcome | None:
        raw = txn.raft_get(_record_key(idempotency.kind, idempotency.key))
        if raw is None:
            return None
        record = json.loads(raw)
        if record["d"] != idempotency.digest:
            return Outcome(
                error=IdempotencyConflict(
                    f"Idempotency-Key {idempotency.key!r} was used for a different request"
                )
            )
        if "e" in record:
            return Outcome(error=error_from_dict(record["e"]))
        return Outcome(result=record.get("r"))

    def record(self, txn: LmdbTxn, idempotency: Idempotency, outcome: Outcome, now_ms: int) -> None:
        kind = idempotency.kind
        expires = now_ms + self.limits.window_ms(kind)
        value: dict[str, Any] = {"d": idempotency.digest, "x": expires}
        if outcome.error is not None:
            error: ZennodeError = outcome.error
            value["e"] = error.to_dict()
        else:
            value["r"] = outcome.result
        encoded = json.dumps(value, separators=(",", ":")).encode()
        txn.raft_put(_record_key(kind, idempotency.key), encoded)
        txn.raft_put(_index_prefix(kind) + _U64.pack(expires) + idempotency.key.encode(), b"")
        self._add_count(txn, kind, 1)

    def prune(self, txn: LmdbTxn, now_ms: int) -> int:
        """Delete expired records, then the earliest-expiring of a kind over its bound."""
        deleted = 0
        for kind in KINDS:
            prefix = _index_prefix(kind)
            over = self._count(txn, kind) - self.limits.keys_max(kind)
            for index_key in txn.raft_first(prefix, PRUNE_PER_BATCH):
                expires = _U64.unpack_from(index_key, len(prefix))[0]
                if expires > now_ms and over <= 0:
                    break
                key = index_key[len(prefix) + _U64.size :].decode()
                txn.raft_delete(index_key)
                txn.raft_delete(_record_key(kind, key))
                self._add_count(txn, kind, -1)
                over -= 1
                deleted += 1
        return deleted

    def _count(self, txn: LmdbTxn, kind: str) -> int:
        raw = txn.raft_get(_count_key(kind))
        return _U64.unpack(raw)[0] if raw else 0

    def _add_count(self, txn: LmdbTxn, kind: str, delta: int) -> None:
        txn.raft_put(_count_key(kind), _U64.pack(max(0, self._count(txn, kind) + delta)))
