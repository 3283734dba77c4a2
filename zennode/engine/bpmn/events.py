"""Start, end (none, terminate, error) and error boundary events."""

from __future__ import annotations

from zennode.engine import model as m
from zennode.engine.bpmn.runner import UNHANDLED_ERROR_EVENT, Runner
from zennode.engine.expressions import ExpressionFailed


def activate_start(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    runner.pass_through(element, scope, flow)


def activate_end(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """A none end event consumes the token; the scope completes when it has none left."""
    runner.pass_through(element, scope, flow)


def activate_boundary(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """An error boundary that caught an error: its host is already interrupted."""
    runner.pass_through(element, scope, flow)


def activate_terminate_end(
    runner: Runner, element: m.Element, scope: int, flow: str | None
) -> None:
    """End every other token of the flow scope; the scope then completes normally."""
    if not runner.apply_mappings(element, scope, flow):
        return
    runner.terminate_within(scope)
    runner.dirty[scope] = None


def activate_error_end(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Throw the event's error code to the closest catcher, else an incident.

    An error end event without an error code throws an error only catch-all boundary events
    and event sub-processes (those without a code) catch."""
    code = element.error_code
    if not runner.throw_error(code, scope, None):
        what = f"error '{code}'" if code is not None else "an error without a code"
        runner.incident_at(
            element,
            scope,
            flow,
            UNHANDLED_ERROR_EVENT,
            f"{what} thrown by {element.id} was not caught by any error boundary event",
        )


def activate_escalation_throw(
    runner: Runner, element: m.Element, scope: int, flow: str | None
) -> None:
    """Escalate to the closest catcher; go on unless an interrupting catcher ended us."""
    if not runner.apply_mappings(element, scope, flow):
        return
    _, interrupted = runner.throw_escalation(element.escalation_code or "", scope)
    if not interrupted:
        runner.leave(element, scope)


def activate_signal_throw(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Broadcast the signal to every partition (relayed, acknowledged), then move on.

    The signal's variables are the event's input mappings (none without them); its output
    mappings see them and propagate from its scope.
    """
    from zennode.engine import records
    from zennode.engine.expressions import evaluate_string
    from zennode.engine.relay import ALL, make_relay, send

    assert element.signal is not None
    context = runner.context(scope)
    try:
        name = evaluate_string(element.signal, context, "signal name")
        variables = runner.inputs(element, scope)
        runner.finish(element, scope, scope, {}, overlay=variables)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, "EXTRACT_VALUE_ERROR", exc.message)
        return
    ctx = runner.ctx
    key = ctx.next_key()
    command = {"type": "broadcast_signal", "signalKey": key, "signalName": name}
    command["variables"] = variables
    relay = make_relay(command, {"type": "ack_relay", "kind": "signal", "signalKey": key}, to=ALL)
    send(ctx, records.SIGNAL_PENDING + records.u64(key), relay)
    runner.leave(element, scope)


def activate_link_throw(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Continue at the link catch event of the same name (the parser resolved it)."""
    if not runner.apply_mappings(element, scope, flow):
        return
    assert element.link_target is not None
    runner.enqueue(element.link_target, scope, None)
