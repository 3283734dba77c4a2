"""broadcast_signal {signalName, variables?, signalKey?} -> {signalKey, triggered, startedInstances}

Applied on every partition (`POST /v1/signals` submits it to each one; a signal thrown by a
process is relayed to all of them). On this partition it triggers every signal catch event,
boundary event and event sub-process start waiting for `signalName`, and, on the deployment
partition only (so one signal starts one instance), the signal start events of the latest
process versions. A relayed broadcast carries the thrower's `signalKey`: a re-sent copy of a
broadcast this partition already applied (among the last `SEEN_MAX`) changes nothing.
Without `signalKey` the partition gives the signal a new key (the `key` Zeebe's BroadcastSignal
answers); `Node.broadcast_signal` sends that key with the copies for the other partitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records, state
from zennode.engine.bpmn import waits
from zennode.engine.bpmn.catch import fire
from zennode.engine.bpmn.instances import start_instance
from zennode.engine.bpmn.runner import Runner
from zennode.engine.context import Context
from zennode.engine.expressions import evaluate

if TYPE_CHECKING:
    from zennode.engine.commands.wire import BroadcastSignal

SCAN_MAX = 10_000
SEEN_MAX = 1_000


def broadcast_signal(ctx: Context, cmd: BroadcastSignal) -> dict[str, Any]:
    name, variables, signal_key = cmd.signal_name, cmd.variables, cmd.signal_key
    if signal_key is not None:
        raw = ctx.db.get("meta", records.SIGNALS_SEEN_KEY)
        seen: list[int] = records.loads(raw) if raw else []
        if signal_key in seen:
            return {
                "signalKey": signal_key,
                "triggered": 0,
                "startedInstances": [],
                "duplicate": True,
            }
        ctx.db.put("meta", records.SIGNALS_SEEN_KEY, records.dumps([*seen, signal_key][-SEEN_MAX:]))
    else:
        signal_key = ctx.next_key()
    triggered = 0
    rows = list(ctx.db.scan("subscriptions", records.SUB_SIGNAL + records.text(name)))[:SCAN_MAX]
    for row, raw_instance in rows:
        sub_key = records.from_u64(row[-8:])
        sub = waits.get_subscription(ctx, sub_key)
        if sub is None:
            continue  # closed by an earlier trigger of this same broadcast
        runner = _runner(ctx, records.from_u64(raw_instance))
        if runner is None:
            continue
        if fire(runner, sub["ownerKey"], sub["elementId"], dict(variables), sub_key=sub_key):
            triggered += 1
            runner.run()
    for runner in ctx.runners.values():
        runner.save()
    started = []
    prefix = records.SIGNAL_START_PREFIX + records.text(name)
    for _, raw in list(ctx.db.scan("index", prefix))[:SCAN_MAX]:
        definition_key = records.from_u64(raw)
        process = ctx.deployed(definition_key).process
        for start_id in process.signal_starts:
            signal = process.elements[start_id].signal
            if signal is None or evaluate(signal, {}) != name:
                continue
            child = start_instance(ctx, definition_key, dict(variables), start_element=start_id)
            child.save()
            started.append(child.key)
            break
    return {"signalKey": signal_key, "triggered": triggered, "startedInstances": started}


def _runner(ctx: Context, instance_key: int) -> Runner | None:
    existing = ctx.runners.get(instance_key)
    if existing is not None:
        return existing if existing.instance["state"] == state.INSTANCE_ACTIVE else None
    instance = state.get_instance(ctx.db, instance_key)
    if instance is None or instance["state"] != state.INSTANCE_ACTIVE:
        return None
    return Runner(ctx, ctx.deployed(instance["processDefinitionKey"]).process, instance)
