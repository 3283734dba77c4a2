"""Embedded sub-processes: a scope with its own none start event, tokens and variables."""

from __future__ import annotations

from zennode.engine import model as m
from zennode.engine.bpmn.runner import IO_MAPPING_ERROR, Runner
from zennode.engine.expressions import ExpressionFailed


def activate_sub_process(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Input mappings become the sub-process's local variables (its iteration's, when it is
    the inner activity of a multi-instance body)."""
    try:
        key = open_sub_process(runner, element, scope)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message)
        return
    assert element.start is not None  # the parser guarantees one none start event
    runner.enqueue(element.start, key, None)


def open_sub_process(runner: Runner, element: m.Element, scope: int) -> int:
    """The sub-process's element instance in `scope`, with its input-mapped locals, boundary
    events and event sub-process starts, but no token yet (the caller places one: at its
    start event, or at the element an instance modification starts). Raises ExpressionFailed
    before anything is created."""
    local = runner.inputs(element, scope)
    prepared = runner.prepare_waits(runner.boundary_events(element, scope), scope)
    key = runner.new_element_instance(element, scope)
    runner.keep_locals(element, scope, key, local)
    try:
        prepared += runner.prepare_waits(runner.event_sub_starts(element.event_starts), key)
    except ExpressionFailed:
        runner.drop_element_instance(key)
        raise
    runner.open_waits(key, prepared)
    return key


def complete_sub_process(runner: Runner, key: int) -> None:
    """The sub-process has no tokens left: its output mappings are evaluated in its scope and
    propagate from the scope it runs in; then it is left (an incident if a mapping fails)."""
    runner.complete_element(key, {})
