"""Push offers: jobs activated in the batch that creates them, for a worker that waits.

Without them a pushed job costs two commits: the batch that creates it, then the job
manager's `activate_jobs`. The partition leader's job manager knows which workers wait (and
has reserved room in their in-flight limits); it cannot know which commands will create jobs
or what their keys will be, which only the apply knows. So the leader puts *offers* in the
replicated batch, beside `now_ms`: "the next job of type T created in this batch goes to worker
W, locked for L ms". The apply hands them out in order as it creates jobs.

Deterministic by construction: every replica applies the same entry with the same offers in
the same order, so every replica activates the same job for the same worker with the same
deadline; followers never look at the manager. A command that is refused (its overlay is not
flushed) gives back what it took, so only committed jobs use offers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Offer:
    """One reserved push slot: the next job of `job_type` goes to `worker`, locked `lock_ms`.

    `slot` is the leader's id of the reservation, so it can settle it after the commit."""

    slot: int
    job_type: str
    worker: str
    lock_ms: int

    def to_wire(self) -> tuple[int, str, str, int]:
        return (self.slot, self.job_type, self.worker, self.lock_ms)

    @classmethod
    def from_wire(cls, raw: Any) -> Offer:
        """An offer from the replicated batch; raises ValueError on a malformed one (the
        leader wrote it, so that is a bug, and every replica raises alike)."""
        slot, job_type, worker, lock_ms = raw
        if not (
            isinstance(slot, int)
            and isinstance(job_type, str)
            and isinstance(worker, str)
            and isinstance(lock_ms, int)
            and lock_ms > 0
        ):
            raise ValueError(f"malformed push offer {raw!r}")
        return cls(slot, job_type, worker, lock_ms)


class BatchOffers:
    """The offers of one replicated batch, handed out in order while its commands apply.

    Takes are tentative until the command commits: `begin` (before each command) rolls back
    to what committed commands took, `commit` keeps the current command's takes. `used` lists
    (offer, activated job) of committed commands in apply order: what the leader pushes.
    """

    def __init__(self, offers: Iterable[Offer]) -> None:
        self._by_type: dict[str, list[Offer]] = {}
        for offer in offers:
            self._by_type.setdefault(offer.job_type, []).append(offer)
        self._committed: dict[str, int] = {}  # job type -> offers taken by committed commands
        self._taken: dict[str, int] = {}  # the same, including the current command's
        self._pending: list[tuple[Offer, dict[str, Any]]] = []
        self.used: list[tuple[Offer, dict[str, Any]]] = []

    def __bool__(self) -> bool:
        return bool(self._by_type)

    def begin(self) -> None:
        """A command starts: forget what an earlier, refused command took."""
        self._taken = dict(self._committed)
        self._pending = []

    def take(self, job_type: str) -> Offer | None:
        """The next unused offer for `job_type`, or None."""
        offers = self._by_type.get(job_type)
        taken = self._taken.get(job_type, 0)
        if offers is None or taken >= len(offers):
            return None
        self._taken[job_type] = taken + 1
        return offers[taken]

    def activated(self, offer: Offer, job: dict[str, Any]) -> None:
        """`offer` activated `job` (a copy is kept: the push sends it as it was stored)."""
        self._pending.append((offer, dict(job)))

    def commit(self) -> None:
        """The command succeeded: its takes are final."""
        self._committed = dict(self._taken)
        self.used.extend(self._pending)
        self._pending = []

    def unused(self) -> list[Offer]:
        """Offers no committed command used, in batch order."""
        used = {offer.slot for offer, _job in self.used}
        return [o for offers in self._by_type.values() for o in offers if o.slot not in used]
