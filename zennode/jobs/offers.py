"""The job manager's push offers: room it reserved in waiting workers' limits, by slot.

With `raft.activate_in_batch` the partition leader's `JobManager` does not wait for a job to
be created before it chooses a worker: while a job type has no pending jobs, it reserves
slots of the workers with room (round robin, as for pending jobs) and posts them as offers
(`zennode.cluster.offer_book`); the batches carry them and the apply creates new jobs already
activated for those workers (`zennode.engine.offers`). A reserved slot counts against its
worker's in-flight limit from the moment it is reserved until it is settled (used: it is the
job's slot now; unused: freed), so limits hold however many batches are in flight.

This module keeps the manager's side of that bookkeeping: which slots exist (posted in the
book or out in a batch) and for whom. The manager decides when to reserve and withdraw.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

from zennode.cluster.offer_book import OfferBook
from zennode.engine.offers import Offer


class Offering:
    """The reserved slots of one partition's job manager (runs on the loop, like it)."""

    def __init__(self, book: OfferBook, per_type_max: int) -> None:
        self.book = book
        self.per_type_max = per_type_max  # slots reserved per job type at most
        self._slots: dict[int, Offer] = {}  # posted in the book or out in a batch
        self._per_type: Counter[str] = Counter()
        # Per worker id, counted from the slots: a worker that reconnects with the same id
        # finds the slots still out in a batch counted against it (they become its jobs).
        self._per_worker: Counter[str] = Counter()
        # Never reused, not even across terms: a slot settled after a role change is unknown.
        self._ids = itertools.count(1)

    def reserved_for(self, worker: str) -> int:
        """Slots reserved in `worker`'s limit (posted or out in a batch), not yet settled."""
        return self._per_worker[worker]

    def room_for(self, job_type: str) -> int:
        """How many more slots `job_type` may reserve."""
        return max(0, self.per_type_max - self._per_type[job_type])

    def reserve(self, job_type: str, worker: str, lock_ms: int) -> Offer:
        """A new slot (not yet posted: `post` them together)."""
        offer = Offer(next(self._ids), job_type, worker, lock_ms)
        self._slots[offer.slot] = offer
        self._per_type[job_type] += 1
        self._per_worker[worker] += 1
        return offer

    def post(self, offers: list[Offer]) -> None:
        if offers:
            self.book.post(offers)

    def withdraw(self, match: Callable[[Offer], bool]) -> list[Offer]:
        """Take back the matching slots still posted; returns them (freed). Slots out in a
        batch stay reserved until that batch settles."""
        wanted = [slot for slot, offer in self._slots.items() if match(offer)]
        if not wanted:
            return []
        freed = [self._forget(slot) for slot in self.book.withdraw(wanted)]
        return [offer for offer in freed if offer is not None]

    def repost(self, offer: Offer) -> bool:
        """Post an offer a batch did not use again, in its old place (the book hands out the
        oldest slots first, so round robin keeps its order); False if it is not ours."""
        if offer.slot not in self._slots:
            return False
        self.book.post([offer])
        return True

    def settle(self, offer: Offer) -> bool:
        """A batch is done with `offer`; whether it was reserved in this term (after a role
        change the manager has already forgotten every slot)."""
        return self._forget(offer.slot) is not None

    def clear(self) -> None:
        """Leadership changed: forget every slot (out ones settle as unknown)."""
        self._slots.clear()
        self._per_type.clear()
        self._per_worker.clear()
        self.book.clear()

    def _forget(self, slot: int) -> Offer | None:
        offer = self._slots.pop(slot, None)
        if offer is not None:
            self._per_type[offer.job_type] -= 1
            if self._per_type[offer.job_type] <= 0:
                del self._per_type[offer.job_type]
            self._per_worker[offer.worker] -= 1
            if self._per_worker[offer.worker] <= 0:
                del self._per_worker[offer.worker]
        return offer

    def reserved_count(self) -> int:
        return len(self._slots)
