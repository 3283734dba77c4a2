"""Commands one partition asks another to apply (message subscriptions and correlations).

The engine is pure and knows neither how many partitions exist nor who leads them, so a
cross-partition step is written twice: as a pending row in the sending partition's state
(replicated, so it survives a leader change) and as a `relay` event that the leader's relay
(`zennode.cluster.interpartition`) turns into a command on the target partition. Once the
target has applied it, the relay submits the `ack` command back to the sender, which deletes
the pending row. A new leader re-sends every pending row (`pending_relays`), so the targets'
commands are written to be idempotent.

A relay is `{"to": <partition id> | None, "correlationKey": str | None, "command": {...},
"ack": {...} | None}`: `to` None means "the partition that owns `correlationKey`", `to`
"all" means every partition (a signal broadcast; the ack follows once all applied it).
"""

from __future__ import annotations

import zlib
from typing import Any

from zennode.engine import records
from zennode.engine.storage import KVRead

RELAY_EVENT = "relay"
PENDING_SCAN_MAX = 10_000


def message_partition(correlation_key: str, partitions: int) -> int:
    """The partition that owns messages with this correlation key (stable across processes)."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    return zlib.crc32(correlation_key.encode("utf-8")) % partitions + 1


def target_partitions(relay: dict[str, Any], partitions: int) -> list[int]:
    to = relay.get("to")
    if to == "all":
        return list(range(1, partitions + 1))
    if isinstance(to, int):
        return [to]
    return [message_partition(relay.get("correlationKey") or "", partitions)]


ALL = "all"


def make_relay(
    command: dict[str, Any],
    ack: dict[str, Any] | None,
    to: int | str | None = None,
    correlation_key: str | None = None,
) -> dict[str, Any]:
    return {"to": to, "correlationKey": correlation_key, "command": command, "ack": ack}


def pending_relays(db: KVRead, limit: int = PENDING_SCAN_MAX) -> list[dict[str, Any]]:
    """Every relay this partition still waits to see acknowledged (for a new leader)."""
    found: list[dict[str, Any]] = []
    for prefix in (
        records.SUB_PENDING_OPEN,
        records.SUB_PENDING_CLOSE,
        records.SUB_PENDING_DELIVERY,
        records.SIGNAL_PENDING,
    ):
        for _, raw in db.scan("subscriptions", prefix):
            if len(found) >= limit:
                return found
            found.append(records.loads(raw))
    return found
