"""Event sub-processes: started inside a scope by an error, a timer or a message.

An interrupting start ends every other token of the scope (and closes the scope's other event
sub-process starts) before the event sub-process runs; the scope completes when the event
sub-process does. A non-interrupting start runs beside the scope's tokens and keeps the scope
alive until it is done.
"""

from __future__ import annotations

from typing import Any

from zennode.engine import model as m
from zennode.engine.bpmn import waits
from zennode.engine.bpmn.runner import Runner


def start_event_sub_process(
    runner: Runner, scope: int, start: m.Element, variables: dict[str, Any]
) -> None:
    process = runner.process
    owner = runner.owner(scope)
    assert owner is not None and start.scope is not None
    event_sub = process.elements[start.scope]
    if start.interrupting:
        waits.close_waits(
            runner.ctx, owner, keep=lambda element_id: process.elements[element_id].kind != m.START
        )
        runner.terminate_within(scope)
    key = runner.new_element_instance(event_sub, scope)
    # The trigger's variables (message, signal, error) propagate from the start event, inside
    # the event sub-process's own scope.
    runner.enqueue(start.id, key, None, variables)
