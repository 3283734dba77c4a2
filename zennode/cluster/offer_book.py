"""The hand-over of push offers between a partition leader's job manager and its batcher.

The job manager (asyncio loop) reserves room in waiting workers' in-flight limits and posts
one `Offer` per reserved slot here; the batcher thread takes some when it closes a batch, and
they travel in the replicated entry (zennode.engine.offers). After the batch is applied, or
when it is dropped without a commit, the partition settles them: `settle` tells the listener
(the manager) which offers activated which job and which came back unused, so it can push the
jobs and free the rest. Thread-safe; every collection is bounded by what the manager posts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from zennode.engine.offers import Offer

log = logging.getLogger(__name__)

# listener(used: [(offer, activated job)], unused: [offer], lost: [offer]); called on the
# thread that settles (a partition's tick thread or the batcher thread): it must not block.
SettleListener = Callable[[list[tuple[Offer, dict[str, Any]]], list[Offer], list[Offer]], None]


def _slot(offer: Offer) -> int:
    return offer.slot


class OfferBook:
    """Posted offers waiting for a batch (one book per partition replica)."""

    def __init__(self, per_batch_max: int = 64) -> None:
        self.per_batch_max = per_batch_max
        self._lock = threading.Lock()
        self._posted: dict[int, Offer] = {}  # slot -> offer
        self._listener: SettleListener | None = None

    def listen(self, listener: SettleListener | None) -> None:
        with self._lock:
            self._listener = listener

    def post(self, offers: Iterable[Offer]) -> None:
        with self._lock:
            for offer in offers:
                self._posted[offer.slot] = offer

    def withdraw(self, slots: Iterable[int]) -> list[int]:
        """Take back posted offers; returns those that were still posted (the others are in a
        batch and will be settled)."""
        with self._lock:
            return [slot for slot in slots if self._posted.pop(slot, None) is not None]

    def clear(self) -> None:
        """Leadership changed: nothing posted is offered any more."""
        with self._lock:
            self._posted.clear()

    def take(self, commands: int) -> tuple[Offer, ...]:
        """Offers for a batch of `commands` commands: per job type at most one per command
        (a command seldom creates more than one job; more offers only wait for the commit),
        oldest first, at most `per_batch_max` in all."""
        with self._lock:
            if not self._posted:
                return ()
            per_type: dict[str, int] = {}
            taken: list[Offer] = []
            # Oldest slot first: an offer that came back unused keeps its turn.
            for offer in sorted(self._posted.values(), key=_slot):
                if len(taken) >= self.per_batch_max:
                    break
                count = per_type.get(offer.job_type, 0)
                if count < commands:
                    per_type[offer.job_type] = count + 1
                    taken.append(offer)
            for offer in taken:
                del self._posted[offer.slot]
            return tuple(taken)

    def settle(
        self,
        used: list[tuple[Offer, dict[str, Any]]],
        unused: list[Offer],
        lost: list[Offer] | None = None,
    ) -> None:
        """A batch's offers are done with: `used` activated jobs (apply order), `unused` did
        not (or the batch certainly never committed: they may be posted again), `lost` belong
        to a batch whose outcome is unknown (timed out, leader changed, applied inside a
        snapshot): freed, never posted again, since they may have activated jobs.

        A listener that raises (its loop closed while the node stops) is logged, never
        raised: settling runs inside apply, before the batch's futures and events."""
        lost = lost or []
        if not used and not unused and not lost:
            return
        with self._lock:
            listener = self._listener
        if listener is None:
            return
        try:
            listener(used, unused, lost)
        except Exception:  # noqa: BLE001 - a listener must not break apply
            log.exception("settling push offers failed")

    def posted_count(self) -> int:
        with self._lock:
            return len(self._posted)
