"""Commands one partition asks another to apply (message subscriptions and correlations,
signal broadcasts, a deployment's copy for the other partitions).

The engine is pure and knows neither how many partitions exist nor who leads them, so a
cross-partition step is written twice: as a pending row in the sending partition's state
(replicated, so it survives a leader change) and as a `relay` event that the leader's relay
(`zennode.drivers.partition_relay`) turns into a command on the target partition. Once the
target has applied it, the relay submits the `ack` command back to the sender, which deletes
the pending row. A new leader re-sends every pending row (`pending_relays`), so the targets'
commands are written to be idempotent.

A relay is `{"to": <partition id> | None, "correlationKey": str | None, "command": {...},
"ack": {...} | None}`: `to` None means "the partition that owns `correlationKey`", `to`
"all" means every partition (a signal broadcast; the ack follows once all applied it), `to`
"others" every partition but the sender (a deployment's copy).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from zennode.engine import records
from zennode.engine.storage import KVRead

if TYPE_CHECKING:
    from zennode.engine.context import Context

RELAY_EVENT = "relay"
PENDING_SCAN_MAX = 10_000
ALL = "all"
OTHERS = "others"


def message_partition(correlation_key: str, partitions: int) -> int:
    """The partition that owns messages with this correlation key (stable across processes)."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    return zlib.crc32(correlation_key.encode("utf-8")) % partitions + 1


def target_partitions(relay: dict[str, Any], partitions: int, source: int) -> list[int]:
    """The partitions a relay sent by partition `source` goes to."""
    to = relay.get("to")
    if to == ALL:
        return list(range(1, partitions + 1))
    if to == OTHERS:
        return [p for p in range(1, partitions + 1) if p != source]
    if isinstance(to, int):
        return [to]
    return [message_partition(relay.get("correlationKey") or "", partitions)]


def make_relay(
    command: dict[str, Any],
    ack: dict[str, Any] | None,
    to: int | str | None = None,
    correlation_key: str | None = None,
) -> dict[str, Any]:
    return {"to": to, "correlationKey": correlation_key, "command": command, "ack": ack}


def send(ctx: Context, pending_row: bytes, relay: dict[str, Any]) -> None:
    """Store the relay as pending (stamped with the command's time) and hand it to the relay."""
    relay["at"] = ctx.now_ms
    ctx.db.put("subscriptions", pending_row, records.dumps(relay))
    ctx.emit(RELAY_EVENT, relay=relay)


def pending_relays(
    db: KVRead, limit: int = PENDING_SCAN_MAX, sent_before_ms: int | None = None
) -> list[dict[str, Any]]:
    """Relays this partition still waits to see acknowledged: all of them (for a new leader),
    or those sent before `sent_before_ms` (for the periodic sweep, so relays still in flight
    are not sent twice)."""
    found: list[dict[str, Any]] = []
    for prefix in (
        records.SUB_PENDING_OPEN,
        records.SUB_PENDING_CLOSE,
        records.SUB_PENDING_DELIVERY,
        records.SIGNAL_PENDING,
        records.DEPLOY_PENDING,
    ):
        for _, raw in db.scan("subscriptions", prefix):
            if len(found) >= limit:
                return found
            relay = records.loads(raw)
            if sent_before_ms is None or relay.get("at", 0) < sent_before_ms:
                found.append(relay)
    return found
