"""Embedded sub-processes: a scope with its own none start event, tokens and variables."""

from __future__ import annotations

from zennode.engine import model as m
from zennode.engine.bpmn.runner import IO_MAPPING_ERROR, Runner
from zennode.engine.expressions import ExpressionFailed


def activate_sub_process(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Input mappings become the sub-process's local variables (its iteration's, when it is
    the inner activity of a multi-instance body)."""
    try:
        local = runner.inputs(element, scope)
        prepared = runner.prepare_waits(runner.boundary_events(element, scope), scope)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message)
        return
    key = runner.new_element_instance(element, scope)
    runner.keep_locals(element, scope, key, local)
    try:
        prepared += runner.prepare_waits(runner.event_sub_starts(element.event_starts), key)
    except ExpressionFailed as exc:
        runner.drop_element_instance(key)
        runner.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message)
        return
    runner.open_waits(key, prepared)
    assert element.start is not None  # the parser guarantees one none start event
    runner.enqueue(element.start, key, None)


def complete_sub_process(runner: Runner, key: int) -> None:
    """The sub-process has no tokens left: its output mappings are evaluated in its scope and
    propagate from the scope it runs in; then it is left (an incident if a mapping fails)."""
    runner.complete_element(key, {})
