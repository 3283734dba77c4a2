"""A small shared/exclusive lock that guards an LMDB environment handle.

Transactions (read and write) hold it shared; closing, growing or swapping the environment
holds it exclusively. LMDB itself forbids `set_mapsize` and `close` while transactions are
open, and a snapshot install must not pull the environment from under a REST read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class RWLock:
    """Many shared holders or one exclusive holder; a waiting exclusive blocks new shared."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0
        self._local = threading.local()

    @contextmanager
    def shared(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        with self._cond:
            # A thread that already holds the lock may nest without waiting (no self-deadlock
            # behind a waiting exclusive holder).
            while self._exclusive or (self._exclusive_waiting and depth == 0):
                self._cond.wait()
            self._shared += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            with self._cond:
                self._shared -= 1
                if self._shared == 0:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._exclusive_waiting += 1
            try:
                while self._exclusive or self._shared:
                    self._cond.wait()
            finally:
                self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
