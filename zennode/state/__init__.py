"""Partition state on disk: the LMDB store behind the engine's KV protocol, and its snapshot."""

from zennode.state.lmdb_store import LmdbStore, LmdbTxn, StoreFull, kv_digest
from zennode.state.snapshot import SnapshotCodec, SnapshotError

__all__ = ["LmdbStore", "LmdbTxn", "SnapshotCodec", "SnapshotError", "StoreFull", "kv_digest"]
