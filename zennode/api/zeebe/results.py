"""Waiting for a process instance to end (CreateProcessInstanceWithResult).

An instance created on a partition this node leads ends with an `instance_completed` or
`instance_terminated` event here; the event can arrive before the create call has even
returned its key (a process with nothing to wait for ends inside its create command), so
while any caller waits, ends are remembered in a bounded buffer. Instances on partitions led
elsewhere (and any event missed across a leader change) are caught by reading the instance's
state: soon and then less often (`POLL_MIN_S` doubling to `POLL_MAX_S`) when the partition is
led by another node, every `POLL_MAX_S` as a safety net when it is led here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from zennode.errors import Backpressure, NotFound

if TYPE_CHECKING:
    from zennode.service import Service

END_EVENTS = {"instance_completed": "completed", "instance_terminated": "terminated"}
ENDED_STATES = frozenset({"completed", "terminated"})
RECENT_MAX = 10_000  # ended instances remembered while someone waits
POLL_MIN_S = 0.05  # first read of an instance's state (partition led elsewhere)
POLL_MAX_S = 1.0  # reads never get rarer than this
WAITERS_MAX = 10_000  # CreateProcessInstanceWithResult calls waiting on one node


class InstanceResults:
    """Tells a waiting caller how an instance ended ("completed" / "terminated")."""

    def __init__(self, service: Service, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self._loop = loop
        self._expecting = 0  # callers between `expect()` and the end of their wait
        self._recent: OrderedDict[int, str] = OrderedDict()
        self._futures: dict[int, list[asyncio.Future[str]]] = {}
        self._closed = False

    def on_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        """Cluster event listener (a partition's tick thread): hop the ends onto the loop."""
        if self._expecting <= 0 or self._closed:
            return
        ends = [
            (int(e["processInstanceKey"]), END_EVENTS[e["event"]])
            for e in events
            if e.get("event") in END_EVENTS and isinstance(e.get("processInstanceKey"), int)
        ]
        if ends:
            with contextlib.suppress(RuntimeError):  # the loop closed: the gateway is gone
                self._loop.call_soon_threadsafe(self._ended, ends)

    def close(self) -> None:
        """The server stopped: ignore events from now on (the node keeps its listeners)."""
        self._closed = True

    def _ended(self, ends: list[tuple[int, str]]) -> None:
        for key, how in ends:
            self._recent[key] = how
            while len(self._recent) > RECENT_MAX:
                self._recent.popitem(last=False)
            for future in self._futures.pop(key, ()):
                if not future.done():
                    future.set_result(how)

    @contextlib.contextmanager
    def expect(self) -> Any:
        """Remember ends from now on (enter before creating the instance)."""
        if self._expecting >= WAITERS_MAX:
            raise Backpressure(f"{WAITERS_MAX} calls already wait for instance results here")
        self._expecting += 1
        try:
            yield
        finally:
            self._expecting -= 1
            if self._expecting == 0:
                self._recent.clear()

    async def wait(self, instance_key: int, timeout_s: float, led_here: bool) -> str | None:
        """How the instance ended, or None if it has not ended within `timeout_s`.

        `led_here`: its partition is led by this node, so its end event arrives here.
        """
        known = self._recent.get(instance_key)
        if known is not None:
            return known
        future: asyncio.Future[str] = self._loop.create_future()
        self._futures.setdefault(instance_key, []).append(future)
        deadline = time.monotonic() + timeout_s
        poll_s = POLL_MAX_S if led_here else POLL_MIN_S
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), min(left, poll_s))
                poll_s = min(poll_s * 2, POLL_MAX_S)
                state = await self._state(instance_key)
                if state in ENDED_STATES:
                    return state
        finally:
            waiting = self._futures.get(instance_key)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._futures[instance_key]

    async def _state(self, instance_key: int) -> str | None:
        try:
            instance = await self.service.get_instance(instance_key)
        except NotFound:
            return None
        return str(instance.get("state"))
