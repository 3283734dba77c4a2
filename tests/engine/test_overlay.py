"""The per-command overlay reads its own writes and merges scans exactly like the store."""

from __future__ import annotations

import random

from zennode.engine.overlay import Overlay
from zennode.engine.storage import MemoryStore


def test_overlay_scan_matches_a_plain_dict_model() -> None:
    rng = random.Random(7)
    for _ in range(50):
        store = MemoryStore()
        model: dict[bytes, bytes] = {}
        with store.write() as txn:
            for _ in range(30):
                key = bytes([rng.randrange(4), rng.randrange(8)])
                txn.put("jobs", key, b"base" + key)
                model[key] = b"base" + key
        with store.write() as txn:
            overlay = Overlay(txn)
            for _ in range(30):
                key = bytes([rng.randrange(4), rng.randrange(8)])
                if rng.random() < 0.4:
                    overlay.delete("jobs", key)
                    model.pop(key, None)
                else:
                    overlay.put("jobs", key, b"new" + key)
                    model[key] = b"new" + key
            for prefix in (b"", b"\x01", b"\x02\x03"):
                for reverse in (False, True):
                    start = bytes([rng.randrange(4), rng.randrange(8)])
                    for begin in (None, start):
                        got = list(overlay.scan("jobs", prefix, begin, reverse))
                        keys = sorted((k for k in model if k.startswith(prefix)), reverse=reverse)
                        if begin is not None:
                            keys = [k for k in keys if (k <= begin if reverse else k >= begin)]
                        assert got == [(k, model[k]) for k in keys]
            for key in list(model)[:5]:
                assert overlay.get("jobs", key) == model[key]
            overlay.flush()
        assert store.tables["jobs"] == model


def test_nothing_reaches_the_transaction_before_flush() -> None:
    store = MemoryStore()
    with store.write() as txn:
        overlay = Overlay(txn)
        overlay.put("meta", b"k", b"v")
        assert overlay.get("meta", b"k") == b"v"
        assert txn.get("meta", b"k") is None
    assert store.tables["meta"] == {}
