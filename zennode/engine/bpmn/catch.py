"""Events that wait: timer and message catch events, receive tasks, event-based gateways,
and what happens when one of their timers or messages arrives (also for boundary events and
event sub-process starts, which `fire` dispatches).
"""

from __future__ import annotations

from typing import Any

from zennode.engine import model as m
from zennode.engine import timers
from zennode.engine.bpmn import waits
from zennode.engine.bpmn.runner import EXTRACT_VALUE_ERROR, Runner
from zennode.engine.expressions import ExpressionFailed


def activate_catch(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Timer / message catch event or receive task: wait with its trigger (and boundaries).

    Its input mappings become its local variables (seen by its correlation key and timer)."""
    try:
        local = runner.inputs(element, scope)
        context = {**runner.context(scope), **local} if local else runner.context(scope)
        waits_ = waits.prepare([element], context, runner.ctx.now_ms)
        waits_ += runner.prepare_waits(runner.boundary_events(element, scope), scope)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    key = runner.new_element_instance(element, scope)
    runner.keep_locals(element, scope, key, local)
    runner.open_waits(key, waits_)


def activate_event_gateway(
    runner: Runner, element: m.Element, scope: int, flow: str | None
) -> None:
    """Wait for the first trigger of the catch events behind the gateway."""
    flows = runner.process.flows
    targets = [runner.process.elements[flows[f].target] for f in element.outgoing]
    try:
        waits_ = runner.prepare_waits(targets, scope)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    key = runner.new_element_instance(element, scope)
    runner.open_waits(key, waits_)


def fire(
    runner: Runner,
    owner_key: int,
    element_id: str,
    variables: dict[str, Any],
    timer: dict[str, Any] | None = None,
    sub_key: int | None = None,
) -> bool:
    """A timer or message arrived for `element_id`, held by `owner_key`.

    Returns False when the owner no longer waits for it (already triggered, completed or
    interrupted): the caller then refuses the delivery and nothing changes.
    """
    owner = runner.owner(owner_key)
    if owner is None:
        return False
    if timer is not None:
        if timer["key"] not in (owner.get("timers") or ()):
            return False
        waits.forget_timer(owner, timer["key"])
    if sub_key is not None:
        if sub_key not in (owner.get("subs") or ()):
            return False
    event = runner.process.elements.get(element_id)
    if event is None:
        return False
    if event.kind == m.START:
        _rearm(runner, owner_key, owner, event, timer, sub_key)
        from zennode.engine.bpmn.event_sub_process import start_event_sub_process

        start_event_sub_process(runner, owner_key, event, variables)
        return True
    if event.kind == m.EVENT_BOUNDARY:
        _fire_boundary(runner, owner_key, owner, event, variables, timer, sub_key)
        return True
    # A catch event (alone or behind an event-based gateway) or a receive task: it is done.
    if sub_key is not None:
        waits.consume_subscription(runner.ctx, owner, sub_key)
    if owner.get("elementId") == event.id:  # it waited in its own element instance
        runner.complete_element(owner_key, variables)
        return True
    scope = owner["scope"]  # the event-based gateway's: the event itself has no instance yet
    runner.remove_element_instance(owner_key)
    if runner.apply_mappings(event, scope, None, variables, retry="pass"):
        runner.leave(event, scope)
    return True


def _fire_boundary(
    runner: Runner,
    host_key: int,
    host: dict[str, Any],
    event: m.Element,
    variables: dict[str, Any],
    timer: dict[str, Any] | None,
    sub_key: int | None,
) -> None:
    scope = host["scope"]
    if event.interrupting:
        if sub_key is not None:
            waits.consume_subscription(runner.ctx, host, sub_key)
        runner.terminate_within(host_key)
        runner.terminate_element_instance(host_key)
        runner.dirty.pop(host_key, None)
    else:
        _rearm(runner, host_key, host, event, timer, sub_key)
    runner.enqueue(event.id, scope, None, variables)  # they propagate from the boundary event


def _rearm(
    runner: Runner,
    owner_key: int,
    owner: dict[str, Any],
    event: m.Element,
    timer: dict[str, Any] | None,
    sub_key: int | None,
) -> None:
    """A non-interrupting event keeps waiting: a cycle timer is set again for its next time.

    An interrupting event sub-process start stops waiting (its scope is interrupted).
    """
    if sub_key is not None and event.kind == m.START and event.interrupting:
        waits.consume_subscription(runner.ctx, owner, sub_key)
    if timer is None or event.interrupting:
        return
    following = timers.following(timer, runner.ctx.now_ms)
    if following is None:
        return
    key = waits.put_timer(
        runner.ctx,
        following,
        {
            k: timer[k]
            for k in ("processInstanceKey", "ownerKey", "elementId", "processDefinitionKey")
        },
    )
    owner.setdefault("timers", []).append(key)
