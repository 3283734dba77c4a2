"""What one command works with: the overlay, the command's time, new keys and its events.

A `Context` lives for one `Engine.apply`. Everything it changes (state, key counter, newly
parsed definitions, events) becomes visible only if the command succeeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records
from zennode.engine.keys import counter_of, make_key, partition_of
from zennode.engine.overlay import Overlay
from zennode.engine.storage import KVWrite

if TYPE_CHECKING:
    from zennode.engine.model import Deployed
    from zennode.engine.offers import BatchOffers


class Context:
    def __init__(
        self,
        partition_id: int,
        txn: KVWrite,
        now_ms: int,
        models: dict[int, Deployed],
        activations_max: int,
        offers: BatchOffers | None = None,
    ) -> None:
        self.partition_id = partition_id
        self.db = Overlay(txn)
        self.now_ms = now_ms
        self.events: list[dict[str, Any]] = []
        self.activations_max = activations_max
        self._models = models  # the engine's cache, read-only here
        self.new_models: dict[int, Deployed] = {}  # added to the cache on success
        self._counter: int | None = None
        self._counter_before = 0  # the key counter when this command made its first key
        self.runners: dict[int, Any] = {}  # process instance key -> its Runner in this command
        # The batch's push offers (zennode.engine.offers): a new job may go to a waiting worker.
        self.offers = offers

    # ------------------------------------------------------------ keys

    def next_key(self) -> int:
        if self._counter is None:
            self._counter = self._counter_before = self._stored_counter()
        self._counter += 1
        return make_key(self.partition_id, self._counter)

    def last_key(self) -> int:
        """The last key the partition made (counter 0 when none yet): keys above it are new."""
        counter = self._counter if self._counter is not None else self._stored_counter()
        return make_key(self.partition_id, counter)

    def _stored_counter(self) -> int:
        raw = self.db.get("meta", records.COUNTER_KEY)
        return records.from_u64(raw) if raw else 0

    def made_key(self, key: int) -> bool:
        """Whether this command made `key` (e.g. an instance it created)."""
        return (
            self._counter is not None
            and partition_of(key) == self.partition_id
            and counter_of(key) > self._counter_before
        )

    # ------------------------------------------------------------ events

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})

    # ------------------------------------------------------------ definitions

    def deployed(self, definition_key: int) -> Deployed:
        """The parsed process of a stored definition (parsed once, then cached)."""
        model = self._models.get(definition_key) or self.new_models.get(definition_key)
        if model is not None:
            return model
        from zennode.engine.state import load_deployed

        model = load_deployed(self, definition_key)
        self.new_models[definition_key] = model
        return model

    def remember(self, deployed: Deployed) -> None:
        self.new_models[deployed.key] = deployed

    # ------------------------------------------------------------ success

    def commit(self) -> None:
        """Flush the overlay into the transaction; call only when the command succeeded."""
        if self._counter is not None:
            self.db.put("meta", records.COUNTER_KEY, records.u64(self._counter))
        self.db.flush()
        self._models.update(self.new_models)
        if self.offers is not None:
            self.offers.commit()
