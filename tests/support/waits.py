"""Bounded waits: poll a condition until it holds or a deadline passes, then fail saying what
was awaited. Every wait in the suite goes through these two, so none can hang a run."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
Says = str | Callable[[], str]  # what is awaited; a callable is asked only on failure (details)


def wait_until(check: Callable[[], T], timeout_s: float, what: Says, interval_s: float = 0.05) -> T:
    """Call `check` until it returns something truthy and return that; AssertionError naming
    `what` after `timeout_s`. The check always runs at least once, also after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(_timed_out(timeout_s, what))
        time.sleep(interval_s)


async def eventually(
    check: Callable[[], Awaitable[T] | T], timeout_s: float, what: Says, interval_s: float = 0.02
) -> T:
    """`wait_until` for a test's own event loop: `check` may be a plain or an async function,
    and the loop keeps running between tries."""
    deadline = time.monotonic() + timeout_s
    while True:
        value: Any = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(_timed_out(timeout_s, what))
        await asyncio.sleep(interval_s)


def _timed_out(timeout_s: float, what: Says) -> str:
    return f"timed out after {timeout_s} s waiting for {what() if callable(what) else what}"
