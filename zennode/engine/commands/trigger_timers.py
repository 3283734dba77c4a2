"""trigger_timers {limit?} -> {fired, expiredMessages, nextDue}

Fires every timer due at the command's `now_ms` (at most `limit`, default 1000, in due order)
and removes buffered messages whose time to live has passed. The partition leader's timer
driver submits it when the earliest timer is due; a leader that was away fires what fell due
meanwhile once, because a fired timer is deleted in the same command (a cycle is re-armed for
its next time). A timer start event creates an instance; any other timer is handed to the
element that waits for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records, state, timers
from zennode.engine.bpmn import waits
from zennode.engine.bpmn.catch import fire
from zennode.engine.bpmn.instances import start_instance
from zennode.engine.commands.messages import expire_messages
from zennode.engine.context import Context
from zennode.engine.storage import KVRead

if TYPE_CHECKING:
    from zennode.engine.commands.wire import TriggerTimers


def trigger_timers(ctx: Context, cmd: TriggerTimers) -> dict[str, Any]:
    limit = cmd.limit
    fired = 0
    for timer in waits.due_timers(ctx, ctx.now_ms, limit):
        waits.delete_timer(ctx, timer["key"])
        instance_key = timer.get("processInstanceKey")
        if instance_key is None:
            _fire_start_timer(ctx, timer)
            fired += 1
            continue
        runner = ctx.runners.get(instance_key)
        if runner is None:
            instance = state.get_instance(ctx.db, instance_key)
            if instance is None or instance["state"] != state.INSTANCE_ACTIVE:
                continue
            from zennode.engine.bpmn.runner import Runner

            process = ctx.deployed(instance["processDefinitionKey"]).process
            runner = Runner(ctx, process, instance)
        if runner.instance["state"] != state.INSTANCE_ACTIVE:
            continue
        if fire(runner, timer["ownerKey"], timer["elementId"], {}, timer=timer):
            fired += 1
            runner.run()
    for runner in ctx.runners.values():
        runner.save()
    expired = expire_messages(ctx, limit)
    return {"fired": fired, "expiredMessages": expired, "nextDue": next_due(ctx)}


def next_due(ctx: Context) -> int | None:
    for key, _ in ctx.db.scan("timers"):
        return records.from_u64(key[:8])
    return None


def _fire_start_timer(ctx: Context, timer: dict[str, Any]) -> None:
    """A timer start event: start an instance there and re-arm a cycle."""
    definition_key = timer["processDefinitionKey"]
    pid = ctx.deployed(definition_key).process.bpmn_process_id
    ctx.db.delete("index", records.timer_start_key(pid, timer["key"]))
    following = timers.following(timer, ctx.now_ms)
    if following is not None:
        open_start_timer(ctx, pid, definition_key, timer["elementId"], following)
    runner = start_instance(ctx, definition_key, {}, start_element=timer["elementId"])
    runner.save()


def open_start_timer(
    ctx: Context, pid: str, definition_key: int, element_id: str, schedule: timers.Schedule
) -> None:
    key = waits.put_timer(
        ctx,
        schedule,
        {
            "processInstanceKey": None,
            "ownerKey": None,
            "elementId": element_id,
            "processDefinitionKey": definition_key,
        },
    )
    ctx.db.put("index", records.timer_start_key(pid, key), b"")


def next_wakeup(db: KVRead) -> int | None:
    """When the partition next has something due: its earliest timer or message expiry.

    Read-only (the leader's timer driver polls it on its local replica)."""
    due = None
    for key, _ in db.scan("timers"):
        due = records.from_u64(key[:8])
        break
    for row, _ in db.scan("messages", records.MSG_BY_EXPIRY):
        expiry = records.from_u64(row[2:10])
        due = expiry if due is None else min(due, expiry)
        break
    return due
