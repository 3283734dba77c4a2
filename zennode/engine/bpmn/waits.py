"""Timers and message subscriptions that an element instance (or the instance itself) holds.

An *owner* is the record something waits on: a catch event's or receive task's element
instance, an activity with timer/message boundary events, an event-based gateway, or a scope
(the process instance or a sub-process) with event sub-processes. The owner keeps the keys of
its timers (`timers`) and subscriptions (`subs`); whatever drops the owner closes them, so a
timer or message can never fire for something that is gone.

Opening is two-phase: `prepare` evaluates every expression first (a failure raises
`ExpressionFailed` before anything is written), `open_prepared` writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zennode.engine import model as m
from zennode.engine import records, timers
from zennode.engine.expressions import ExpressionFailed, evaluate, evaluate_string
from zennode.engine.relay import make_relay, send

if TYPE_CHECKING:
    from zennode.engine.context import Context

CORRELATION_KEY_BYTES_MAX = 255


@dataclass(frozen=True, slots=True)
class Prepared:
    element_id: str
    schedule: timers.Schedule | None = None
    message_name: str | None = None
    correlation_key: str | None = None
    signal_name: str | None = None


def correlation_text(value: Any, source: str) -> str:
    """Zeebe accepts strings and numbers as correlation keys; numbers become their digits."""
    if isinstance(value, bool) or value is None:
        raise ExpressionFailed(f"correlation key '{source}' is {value!r}, not a string or number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else None
    if text is None:
        raise ExpressionFailed(f"correlation key '{source}' must be a string or a number")
    if "\0" in text or len(text.encode()) > CORRELATION_KEY_BYTES_MAX:
        raise ExpressionFailed(f"correlation key '{source}' is too long or contains NUL")
    return text


def prepare(events: list[m.Element], variables: dict[str, Any], now_ms: int) -> list[Prepared]:
    """Evaluate the timers and message subscriptions of `events` (raises ExpressionFailed)."""
    prepared = []
    for event in events:
        if event.timer is not None:
            value = evaluate(event.timer.value, variables)
            prepared.append(
                Prepared(event.id, schedule=timers.schedule(event.timer.kind, value, now_ms))
            )
        elif event.message is not None:
            name = evaluate_string(event.message.name, variables, "message name")
            expr = event.message.correlation_key
            key = correlation_text(evaluate(expr, variables), expr.source) if expr else ""
            prepared.append(Prepared(event.id, message_name=name, correlation_key=key))
        elif event.signal is not None:
            name = evaluate_string(event.signal, variables, "signal name")
            prepared.append(Prepared(event.id, signal_name=name))
    return prepared


def open_prepared(
    ctx: Context,
    instance: dict[str, Any],
    owner_key: int,
    owner: dict[str, Any],
    prepared: list[Prepared],
    process: m.Process,
) -> None:
    for item in prepared:
        if item.schedule is not None:
            key = put_timer(
                ctx,
                item.schedule,
                {
                    "processInstanceKey": instance["processInstanceKey"],
                    "ownerKey": owner_key,
                    "elementId": item.element_id,
                    "processDefinitionKey": instance["processDefinitionKey"],
                },
            )
            owner.setdefault("timers", []).append(key)
        elif item.signal_name is not None:
            key = open_signal_subscription(
                ctx, instance, owner_key, item.element_id, item.signal_name
            )
            owner.setdefault("subs", []).append(key)
        else:
            assert item.message_name is not None and item.correlation_key is not None
            event = process.elements[item.element_id]
            repeat = event.kind == m.EVENT_BOUNDARY and not event.interrupting
            repeat = repeat or (event.kind == m.START and not event.interrupting)
            key = open_subscription(
                ctx,
                instance,
                owner_key,
                item.element_id,
                item.message_name,
                item.correlation_key,
                repeat,
            )
            owner.setdefault("subs", []).append(key)


# ------------------------------------------------------------------ timers


def put_timer(ctx: Context, schedule: timers.Schedule, fields: dict[str, Any]) -> int:
    key = ctx.next_key()
    record = {
        "key": key,
        "due": schedule.due_ms,
        "repetitionsLeft": schedule.repetitions_left,
        "interval": schedule.interval_ms,
        **fields,
    }
    if schedule.cron is not None:
        record["cron"] = schedule.cron
    ctx.db.put("timers", records.timer_row(schedule.due_ms, key), records.dumps(record))
    ctx.db.put("index", records.timer_index_key(key), records.u64(schedule.due_ms))
    return key


def get_timer(ctx: Context, key: int) -> dict[str, Any] | None:
    raw_due = ctx.db.get("index", records.timer_index_key(key))
    if raw_due is None:
        return None
    raw = ctx.db.get("timers", records.timer_row(records.from_u64(raw_due), key))
    return records.loads(raw) if raw else None


def delete_timer(ctx: Context, key: int) -> None:
    raw_due = ctx.db.get("index", records.timer_index_key(key))
    if raw_due is None:
        return
    ctx.db.delete("timers", records.timer_row(records.from_u64(raw_due), key))
    ctx.db.delete("index", records.timer_index_key(key))


def due_timers(ctx: Context, now_ms: int, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _, raw in ctx.db.scan("timers"):
        record = records.loads(raw)
        if record["due"] > now_ms or len(found) >= limit:
            break
        found.append(record)
    return found


# ------------------------------------------------------------------ subscriptions


def open_subscription(
    ctx: Context,
    instance: dict[str, Any],
    owner_key: int,
    element_id: str,
    name: str,
    correlation_key: str,
    repeat: bool,
) -> int:
    key = ctx.next_key()
    instance_key = instance["processInstanceKey"]
    record = {
        "subKey": key,
        "processInstanceKey": instance_key,
        "ownerKey": owner_key,
        "elementId": element_id,
        "messageName": name,
        "correlationKey": correlation_key,
    }
    ctx.db.put("subscriptions", records.SUB_PROCESS_SIDE + records.u64(key), records.dumps(record))
    command = {
        "type": "open_message_subscription",
        "subKey": key,
        "partitionId": ctx.partition_id,
        "processInstanceKey": instance_key,
        "bpmnProcessId": instance["bpmnProcessId"],
        "elementId": element_id,
        "messageName": name,
        "correlationKey": correlation_key,
        "repeat": repeat,
    }
    ack = {"type": "ack_relay", "kind": "open", "subKey": key}
    relay = make_relay(command, ack, correlation_key=correlation_key)
    send(ctx, records.SUB_PENDING_OPEN + records.u64(key), relay)
    return key


def open_signal_subscription(
    ctx: Context, instance: dict[str, Any], owner_key: int, element_id: str, name: str
) -> int:
    """Signals are broadcast to every partition, so their subscriptions stay local."""
    key = ctx.next_key()
    instance_key = instance["processInstanceKey"]
    record = {
        "subKey": key,
        "processInstanceKey": instance_key,
        "ownerKey": owner_key,
        "elementId": element_id,
        "signalName": name,
    }
    ctx.db.put("subscriptions", records.SUB_PROCESS_SIDE + records.u64(key), records.dumps(record))
    ctx.db.put("subscriptions", records.signal_row(name, key), records.u64(instance_key))
    return key


def get_subscription(ctx: Context, key: int) -> dict[str, Any] | None:
    raw = ctx.db.get("subscriptions", records.SUB_PROCESS_SIDE + records.u64(key))
    return records.loads(raw) if raw else None


def close_subscription(ctx: Context, key: int) -> None:
    record = get_subscription(ctx, key)
    if record is None:
        return
    ctx.db.delete("subscriptions", records.SUB_PROCESS_SIDE + records.u64(key))
    if "signalName" in record:
        ctx.db.delete("subscriptions", records.signal_row(record["signalName"], key))
        return
    ctx.db.delete("subscriptions", records.SUB_PENDING_OPEN + records.u64(key))
    command = {"type": "close_message_subscription", "subKey": key}
    ack = {"type": "ack_relay", "kind": "close", "subKey": key}
    relay = make_relay(command, ack, correlation_key=record["correlationKey"])
    send(ctx, records.SUB_PENDING_CLOSE + records.u64(key), relay)


# ------------------------------------------------------------------ owners


def close_waits(
    ctx: Context, owner: dict[str, Any], keep: Callable[[str], bool] | None = None
) -> None:
    """Close the owner's timers and subscriptions (those whose element `keep` refuses)."""
    timer_keys = owner.pop("timers", None) or []
    sub_keys = owner.pop("subs", None) or []
    kept_timers = []
    kept_subs = []
    for key in timer_keys:
        record = get_timer(ctx, key) if keep else None
        if record is not None and keep is not None and keep(record["elementId"]):
            kept_timers.append(key)
        else:
            delete_timer(ctx, key)
    for key in sub_keys:
        record = get_subscription(ctx, key) if keep else None
        if record is not None and keep is not None and keep(record["elementId"]):
            kept_subs.append(key)
        else:
            close_subscription(ctx, key)
    if kept_timers:
        owner["timers"] = kept_timers
    if kept_subs:
        owner["subs"] = kept_subs


def consume_subscription(ctx: Context, owner: dict[str, Any], key: int) -> None:
    """The message side already dropped this subscription (it correlated): forget it here."""
    forget_subscription(owner, key)
    record = get_subscription(ctx, key)
    if record is not None and "signalName" in record:
        ctx.db.delete("subscriptions", records.signal_row(record["signalName"], key))
    ctx.db.delete("subscriptions", records.SUB_PROCESS_SIDE + records.u64(key))
    ctx.db.delete("subscriptions", records.SUB_PENDING_OPEN + records.u64(key))


def forget_timer(owner: dict[str, Any], key: int) -> None:
    keys = owner.get("timers") or []
    if key in keys:
        keys.remove(key)
    if not keys:
        owner.pop("timers", None)


def forget_subscription(owner: dict[str, Any], key: int) -> None:
    keys = owner.get("subs") or []
    if key in keys:
        keys.remove(key)
    if not keys:
        owner.pop("subs", None)
