"""Which asyncio event loop a node runs on (`event_loop` in the config).

A node's asyncio thread carries uvicorn, the public and internal gRPC servers, the job
streams and the forwarding client: about a quarter of a busy node's samples, part of it the
loop's own work (callbacks, transports, timers). uvloop (libuv, in C) does that part for less
CPU than the pure-Python selector loop — docs/benchmarks.md, "Issue 19: uvloop and the REST hot
path", has the measurements. `asyncio` keeps the standard loop (a switch to rule uvloop out
when something misbehaves on it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

EVENT_LOOPS = ("uvloop", "asyncio")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A constructor of new event loops of kind `name` (one of `EVENT_LOOPS`)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"event loop {name!r} is not one of {', '.join(EVENT_LOOPS)}")
