"""Embedded sub-processes: a scope with its own none start event and its own tokens."""

from __future__ import annotations

from zennode.engine import model as m
from zennode.engine.bpmn.runner import IO_MAPPING_ERROR, Runner
from zennode.engine.expressions import ExpressionFailed
from zennode.engine.variables import map_into


def activate_sub_process(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    try:
        map_into(element.inputs, runner.context(scope), runner.variables)
        prepared = runner.prepare_waits(runner.boundary_events(element, scope), scope)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message)
        return
    key = runner.new_element_instance(element, scope)
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
    """The sub-process has no tokens left: apply its output mappings and leave it."""
    record = runner.elements[str(key)]
    element = runner.process.elements[record["elementId"]]
    try:
        map_into(element.outputs, runner.context(key), runner.variables)
    except ExpressionFailed as exc:
        record["retry"] = "complete"
        runner.open_incident(key, element.id, IO_MAPPING_ERROR, exc.message)
        return
    runner.remove_element_instance(key)
    runner.leave(element, record["scope"])
