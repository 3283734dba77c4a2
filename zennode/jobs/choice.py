"""Which subscribed worker gets a partition leader's next job: local workers first.

A job pushed to a worker connected to another node crosses the job relay (one more gRPC hop,
JSON both ways), and the worker's completion is then forwarded back to the partition's leader
(one more internal call). A worker connected to the leader's own node costs neither. So the
leader's job manager prefers, among the workers with room, those connected to its own node,
and falls back to the others only when no local worker has room: remote workers still get
every job the local ones cannot take, so none is starved while the local ones are full.

Within each group the order is round robin, each group with its own cursor into the same
subscription list, so preferring the local group never skews the rotation of the remote one
(and the other way round). Pure and deterministic: the caller says who has room and who is
local, and keeps the cursor between calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class RoundRobin:
    """Where the next search of each group starts (indices into the subscription list)."""

    local_next: int = 0
    remote_next: int = 0

    def clamp(self, count: int) -> None:
        """The list shrank to `count` workers: keep both cursors inside it."""
        if self.local_next >= count:
            self.local_next = 0
        if self.remote_next >= count:
            self.remote_next = 0


def next_worker(
    workers: Sequence[str],
    cursor: RoundRobin,
    has_room: Callable[[str], bool],
    is_local: Callable[[str], bool],
) -> str | None:
    """The worker to hand the next job to, or None when none has room; advances `cursor`.

    First the local workers with room, round robin from `cursor.local_next`; when none has
    room, the remote ones round robin from `cursor.remote_next`.
    """
    count = len(workers)
    for local in (True, False):
        start = cursor.local_next if local else cursor.remote_next
        for step in range(count):
            index = (start + step) % count
            candidate = workers[index]
            if is_local(candidate) is local and has_room(candidate):
                if local:
                    cursor.local_next = (index + 1) % count
                else:
                    cursor.remote_next = (index + 1) % count
                return candidate
    return None
