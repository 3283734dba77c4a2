"""Message commands. Each partition plays two roles:

- *message partition* (owns the correlation key, `relay.message_partition`):
  `publish_message {messageName, correlationKey, variables?, timeToLive?, messageId?}`
  -> {messageKey, correlated, startedInstances}: delivers to every open subscription of the
  name and key (once per process instance), starts instances of processes whose message start
  event has that name, and buffers the message for `timeToLive` ms (a live duplicate
  `messageId` is AlreadyExists). `open_message_subscription {subKey, partitionId,
  processInstanceKey, bpmnProcessId, elementId, messageName, correlationKey, repeat}` stores a
  subscription and correlates the oldest live buffered message at once;
  `close_message_subscription {subKey}` removes it. Both are idempotent.
- *instance partition*: `correlate_message {subKey, processInstanceKey, messageKey, variables}`
  -> {accepted}: hands the message to the element that waits (accepted false when it waits no
  more: the message partition just forgets the delivery).

`ack_relay {kind: open|close|delivery|signal|deployment, subKey | signalKey | deploymentKey,
messageKey?}` deletes the pending row of a relay that the other side applied. A non-repeating
subscription is removed on the message partition the moment it correlates, so one message wakes
one waiting element once.
"""

from __future__ import annotations

from typing import Any

from zennode.engine import records, state
from zennode.engine.bpmn import waits
from zennode.engine.bpmn.catch import fire
from zennode.engine.bpmn.instances import start_instance
from zennode.engine.commands._instance import runner_for
from zennode.engine.commands.wire import (
    AckRelay,
    CloseMessageSubscription,
    CorrelateMessage,
    OpenMessageSubscription,
    PublishMessage,
    to_wire,
)
from zennode.engine.context import Context
from zennode.engine.expressions import evaluate
from zennode.engine.relay import make_relay, send
from zennode.errors import AlreadyExists, InvalidState

SCAN_MAX = 10_000
SEEN_MAX = 64  # message keys a repeating subscription remembers (re-sent deliveries)


# ------------------------------------------------------------------ message partition


def publish_message(ctx: Context, cmd: PublishMessage) -> dict[str, Any]:
    name, correlation_key, ttl = cmd.message_name, cmd.correlation_key, cmd.time_to_live
    variables, message_id = cmd.variables, cmd.message_id
    if message_id is not None:
        existing = ctx.db.get("messages", records.MSG_BY_ID + records.text(message_id))
        if existing is not None:
            old = _get_message(ctx, records.from_u64(existing))
            if old is not None and old["expiresAt"] > ctx.now_ms:
                raise AlreadyExists(f"a message with id '{message_id}' is still alive")
            if old is not None:
                _delete_message(ctx, old)
    key = ctx.next_key()
    message: dict[str, Any] = {
        "key": key,
        "messageName": name,
        "correlationKey": correlation_key,
        "variables": variables,
        "messageId": message_id,
        "publishedAt": ctx.now_ms,
        "expiresAt": ctx.now_ms + ttl,
        "instances": [],
    }
    correlated = 0
    prefix = records.SUB_BY_NAME + records.name_and_key(name, correlation_key)
    for row, raw in list(ctx.db.scan("subscriptions", prefix))[:SCAN_MAX]:
        sub = records.loads(raw)
        if sub["processInstanceKey"] in message["instances"]:
            continue
        _deliver(ctx, sub, message)
        correlated += 1
        if not sub["repeat"]:
            ctx.db.delete("subscriptions", row)
            ctx.db.delete("subscriptions", records.SUB_ROW_OF + records.u64(sub["subKey"]))
    started = _start_by_message(ctx, name, correlation_key, variables)
    if ttl > 0:
        _put_message(ctx, message)
    return {"messageKey": key, "correlated": correlated, "startedInstances": started}


def open_message_subscription(ctx: Context, cmd: OpenMessageSubscription) -> dict[str, Any]:
    sub_key = cmd.sub_key
    sub: dict[str, Any] = {  # stored: the same fields, in the same order, as the wire form
        "subKey": sub_key,
        "partitionId": cmd.partition_id,
        "processInstanceKey": cmd.process_instance_key,
        "bpmnProcessId": cmd.bpmn_process_id,
        "elementId": cmd.element_id,
        "messageName": cmd.message_name,
        "correlationKey": cmd.correlation_key,
        "repeat": cmd.repeat,
    }
    if ctx.db.get("subscriptions", records.SUB_ROW_OF + records.u64(sub_key)) is not None:
        return {"subKey": sub_key, "duplicate": True, "correlated": False}
    correlated = False
    prefix = records.MSG_BY_NAME + records.name_and_key(sub["messageName"], sub["correlationKey"])
    for row, _ in list(ctx.db.scan("messages", prefix))[:SCAN_MAX]:
        message = _get_message(ctx, records.from_u64(row[-8:]))
        if message is None or message["expiresAt"] <= ctx.now_ms:
            continue
        if sub["processInstanceKey"] in message["instances"]:
            continue
        _deliver(ctx, sub, message)
        _put_message(ctx, message)
        correlated = True
        break
    if not correlated or sub["repeat"]:
        row = (
            records.SUB_BY_NAME
            + records.name_and_key(sub["messageName"], sub["correlationKey"])
            + records.u64(sub_key)
        )
        ctx.db.put("subscriptions", row, records.dumps(sub))
        ctx.db.put("subscriptions", records.SUB_ROW_OF + records.u64(sub_key), row)
    return {"subKey": sub_key, "duplicate": False, "correlated": correlated}


def close_message_subscription(ctx: Context, cmd: CloseMessageSubscription) -> dict[str, Any]:
    sub_key = cmd.sub_key
    row = ctx.db.get("subscriptions", records.SUB_ROW_OF + records.u64(sub_key))
    if row is not None:
        ctx.db.delete("subscriptions", row)
        ctx.db.delete("subscriptions", records.SUB_ROW_OF + records.u64(sub_key))
    return {"subKey": sub_key, "closed": row is not None}


def _deliver(ctx: Context, sub: dict[str, Any], message: dict[str, Any]) -> None:
    """Record and relay a correlation to the subscription's instance partition."""
    message["instances"].append(sub["processInstanceKey"])
    command = CorrelateMessage(
        sub_key=sub["subKey"],
        process_instance_key=sub["processInstanceKey"],
        message_key=message["key"],
        message_name=message["messageName"],
        variables=message["variables"],
    )
    ack = AckRelay(kind="delivery", sub_key=sub["subKey"], message_key=message["key"])
    relay = make_relay(to_wire(command), to_wire(ack), to=sub["partitionId"])
    send(ctx, records.SUB_PENDING_DELIVERY + records.pair_key(sub["subKey"], message["key"]), relay)


def _start_by_message(
    ctx: Context, name: str, correlation_key: str, variables: dict[str, Any]
) -> list[int]:
    """Message start events of the latest versions listening for `name` start instances.

    As in Zeebe, a process has at most one active instance per non-empty correlation key that
    a message started: while it runs, another message with that key starts nothing (it may
    still be buffered for the instance's own subscriptions).
    """
    started = []
    prefix = records.MESSAGE_START_PREFIX + records.text(name)
    for _, raw in list(ctx.db.scan("index", prefix))[:SCAN_MAX]:
        definition_key = records.from_u64(raw)
        process = ctx.deployed(definition_key).process
        running_row = records.message_started_key(process.bpmn_process_id, correlation_key)
        if correlation_key:
            running = ctx.db.get("index", running_row)
            if running is not None and _is_active(ctx, records.from_u64(running)):
                continue
        for start_id in process.message_starts:
            start = process.elements[start_id]
            assert start.message is not None
            if evaluate(start.message.name, {}) != name:
                continue
            runner = start_instance(ctx, definition_key, dict(variables), start_element=start_id)
            runner.save()
            started.append(runner.key)
            if correlation_key and runner.instance["state"] == state.INSTANCE_ACTIVE:
                ctx.db.put("index", running_row, records.u64(runner.key))
                runner.instance["startCorrelationKey"] = correlation_key
                runner.save()
            break
    return started


def _is_active(ctx: Context, instance_key: int) -> bool:
    instance = state.get_instance(ctx.db, instance_key)
    return instance is not None and instance["state"] == state.INSTANCE_ACTIVE


def _get_message(ctx: Context, key: int) -> dict[str, Any] | None:
    raw = ctx.db.get("messages", records.MSG_RECORD + records.u64(key))
    return records.loads(raw) if raw else None


def _put_message(ctx: Context, message: dict[str, Any]) -> None:
    key = message["key"]
    ctx.db.put("messages", records.MSG_RECORD + records.u64(key), records.dumps(message))
    name_row = records.name_and_key(message["messageName"], message["correlationKey"])
    ctx.db.put("messages", records.MSG_BY_NAME + name_row + records.u64(key), b"")
    ctx.db.put("messages", records.MSG_BY_EXPIRY + records.pair_key(message["expiresAt"], key), b"")
    if message["messageId"] is not None:
        ctx.db.put(
            "messages", records.MSG_BY_ID + records.text(message["messageId"]), records.u64(key)
        )


def _delete_message(ctx: Context, message: dict[str, Any]) -> None:
    key = message["key"]
    ctx.db.delete("messages", records.MSG_RECORD + records.u64(key))
    name_row = records.name_and_key(message["messageName"], message["correlationKey"])
    ctx.db.delete("messages", records.MSG_BY_NAME + name_row + records.u64(key))
    ctx.db.delete("messages", records.MSG_BY_EXPIRY + records.pair_key(message["expiresAt"], key))
    if message["messageId"] is not None:
        id_row = records.MSG_BY_ID + records.text(message["messageId"])
        if ctx.db.get("messages", id_row) == records.u64(key):
            ctx.db.delete("messages", id_row)


def expire_messages(ctx: Context, limit: int) -> int:
    """Remove buffered messages whose time to live has passed (oldest first, bounded)."""
    expired: list[int] = []
    for row, _ in ctx.db.scan("messages", records.MSG_BY_EXPIRY):
        expires_at = records.from_u64(row[2:10])
        if expires_at > ctx.now_ms or len(expired) >= limit:
            break
        expired.append(records.from_u64(row[10:18]))
    for key in expired:
        message = _get_message(ctx, key)
        if message is not None:
            _delete_message(ctx, message)
    return len(expired)


def next_message_expiry(ctx: Context) -> int | None:
    for row, _ in ctx.db.scan("messages", records.MSG_BY_EXPIRY):
        return records.from_u64(row[2:10])
    return None


# ------------------------------------------------------------------ instance partition


def correlate_message(ctx: Context, cmd: CorrelateMessage) -> dict[str, Any]:
    sub_key, message_key, variables = cmd.sub_key, cmd.message_key, cmd.variables
    sub = waits.get_subscription(ctx, sub_key)
    refused = {"subKey": sub_key, "accepted": False}
    if sub is None:
        return refused
    seen = sub.get("seen", [])
    if message_key in seen:
        return refused  # a re-sent delivery of a message this subscription already took
    try:
        runner = runner_for(ctx, sub["processInstanceKey"])
    except InvalidState:
        return refused
    if not fire(runner, sub["ownerKey"], sub["elementId"], variables, sub_key=sub_key):
        return refused
    if waits.get_subscription(ctx, sub_key) is not None:  # a repeating subscription stays
        sub["seen"] = [*seen, message_key][-SEEN_MAX:]
        ctx.db.put(
            "subscriptions", records.SUB_PROCESS_SIDE + records.u64(sub_key), records.dumps(sub)
        )
    runner.run()
    runner.save()
    return {"subKey": sub_key, "accepted": True, "processInstanceKey": runner.key}


def ack_relay(ctx: Context, cmd: AckRelay) -> dict[str, Any]:
    kind, sub_key = cmd.kind, cmd.sub_key or 0
    if kind == "open":
        row = records.SUB_PENDING_OPEN + records.u64(sub_key)
    elif kind == "close":
        row = records.SUB_PENDING_CLOSE + records.u64(sub_key)
    elif kind == "signal":
        row = records.SIGNAL_PENDING + records.u64(cmd.signal_key or 0)
    elif kind == "deployment":
        row = records.DEPLOY_PENDING + records.u64(cmd.deployment_key or 0)
    else:  # "delivery" (decode accepts no other kind)
        row = records.SUB_PENDING_DELIVERY + records.pair_key(sub_key, cmd.message_key or 0)
    found = ctx.db.get("subscriptions", row) is not None
    if found:
        ctx.db.delete("subscriptions", row)
    return {"subKey": sub_key, "acknowledged": found}


__all__ = [
    "ack_relay",
    "close_message_subscription",
    "correlate_message",
    "expire_messages",
    "open_message_subscription",
    "publish_message",
]
