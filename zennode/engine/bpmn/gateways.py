"""Exclusive, parallel and inclusive gateways (fork and join)."""

from __future__ import annotations

from zennode.engine import model as m
from zennode.engine.bpmn.runner import CONDITION_ERROR, Runner
from zennode.engine.expressions import ExpressionFailed, evaluate_condition


def _join_key(scope: int, gateway: str) -> str:
    return f"{scope}|{gateway}"


def activate_exclusive(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Take the first outgoing flow whose condition holds, else the default, else an incident."""
    flows = runner.process.flows
    try:
        for flow_id in element.outgoing:
            if flow_id == element.default_flow:
                continue
            condition = flows[flow_id].condition
            if condition is None or evaluate_condition(condition, runner.context(scope)):
                runner.take((flow_id,), scope)
                return
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, CONDITION_ERROR, exc.message)
        return
    if element.default_flow:
        runner.take((element.default_flow,), scope)
    elif element.outgoing:
        runner.incident_at(
            element,
            scope,
            flow,
            CONDITION_ERROR,
            f"no outgoing sequence flow of gateway {element.id} matched and it has no default",
        )
    else:
        runner.leave(element, scope)


def activate_parallel(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Join: wait for a token on every incoming flow. Fork: a token on every outgoing flow."""
    if len(element.incoming) > 1 and flow is not None:
        key = _join_key(scope, element.id)
        arrived = runner.joins.setdefault(key, {})
        arrived[flow or ""] = arrived.get(flow or "", 0) + 1
        if not all(arrived.get(f) for f in element.incoming):
            runner.joined = True  # waits for the other tokens: no pass yet
            return
        _consume(runner, key, element.incoming)
    runner.leave(element, scope)


def activate_inclusive(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Join (when a token arrives on a flow) and then fork; a retried fork has no flow."""
    if len(element.incoming) > 1 and flow is not None:
        key = _join_key(scope, element.id)
        arrived = runner.joins.setdefault(key, {})
        arrived[flow or ""] = arrived.get(flow or "", 0) + 1
        if not all(arrived.get(f) for f in element.incoming):
            runner.joined = True  # fire_ready_inclusive_joins decides once no token is moving
            return
        _consume(runner, key, element.incoming)
    fork_inclusive(runner, element, scope, None)


def fork_inclusive(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Every outgoing flow whose condition holds; else the default; else an incident."""
    flows = runner.process.flows
    chosen = []
    try:
        for flow_id in element.outgoing:
            if flow_id == element.default_flow:
                continue
            condition = flows[flow_id].condition
            if condition is None or evaluate_condition(condition, runner.context(scope)):
                chosen.append(flow_id)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, CONDITION_ERROR, exc.message)
        return
    if not chosen and element.default_flow:
        chosen.append(element.default_flow)
    if not chosen and element.outgoing:
        runner.incident_at(
            element,
            scope,
            flow,
            CONDITION_ERROR,
            f"no outgoing sequence flow of gateway {element.id} matched and it has no default",
        )
        return
    if chosen:
        runner.take(chosen, scope)
    else:
        runner.leave(element, scope)


def _consume(runner: Runner, key: str, incoming: tuple[str, ...]) -> None:
    """Remove one arrived token per incoming flow that has one."""
    arrived = runner.joins[key]
    for flow_id in incoming:
        count = arrived.get(flow_id, 0)
        if count > 1:
            arrived[flow_id] = count - 1
        elif count == 1:
            del arrived[flow_id]
    if not arrived:
        del runner.joins[key]


def fire_ready_inclusive_joins(runner: Runner) -> bool:
    """Fire inclusive joins that no other token of their scope can still reach.

    Called when no token is moving, so every remaining token waits in an element instance or
    at another join. Returns True when one fired (the caller then runs the queue again).
    """
    process = runner.process
    for key in list(runner.joins):
        scope_text, gateway_id = key.split("|", 1)
        gateway = process.elements[gateway_id]
        if gateway.kind != m.INCLUSIVE:
            continue
        scope = int(scope_text)
        arrived = runner.joins[key]
        waiting = [r["elementId"] for r in runner.elements.values() if r["scope"] == scope] + [
            other.split("|", 1)[1]
            for other in runner.joins
            if other != key and other.startswith(f"{scope}|")
        ]
        upstream = process.upstream[gateway_id]
        if any(
            not arrived.get(flow_id) and any(w in upstream[flow_id] for w in waiting)
            for flow_id in gateway.incoming
        ):
            continue
        _consume(runner, key, gateway.incoming)
        created = runner.created
        fork_inclusive(runner, gateway, scope, None)
        if runner.created == created:
            runner.record_pass(gateway, scope)
        return True
    return False
