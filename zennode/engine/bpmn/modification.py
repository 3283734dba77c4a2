"""Process instance modification (Zeebe's ModifyProcessInstance, ZenBPM's /modify routes):
start tokens at chosen elements, terminate chosen element instances, in one command.

Semantics (Zeebe's, see docs/bpmn-support.md "Instance modification"):

- **Start** at an element: the element is activated as if a token had just arrived (no
  incoming flow), in an instance of its flow scope. The flow scopes it needs (embedded and
  event sub-processes, outermost first) are found or created: without an ancestor, an
  existing single instance of a flow scope is used, none is created, several is a refusal
  (name an ancestor); with `ancestorElementInstanceKey` (an instance of one of the element's
  flow scopes, or the process instance), every flow scope below that ancestor is created
  anew. A created sub-process gets its input mappings, boundary events and event
  sub-process starts, but no token at its start event. An event sub-process created this way
  runs beside the scope's other tokens (it interrupts nothing).
- **Refused** (BadRequest naming the element): an unknown id, a sequence flow, a start
  event, a boundary event, an event sub-process itself, a catch event behind an event-based
  gateway, an element inside a multi-instance activity (its iterations cannot be made up),
  an ancestor that is not an active flow scope of the element, a flow scope the same command
  terminates.
- **Variables** of a start instruction are set as local variables of a scope (Zeebe's
  variable instructions): `scopeId` None is the flow scope the element starts in, "" or the
  process id the process scope, else the id of one of the element's flow scopes.
- **Terminate** an element instance: it and everything inside it end (jobs terminated,
  timers and message subscriptions of it and its boundary events closed, incidents resolved,
  a called child instance terminated). A flow scope left with no token (and not needed by a
  start of the same command) is terminated too, up to the process instance: terminating its
  last token terminates the instance — refused for a child of a call activity (modify the
  parent), as in Zeebe.

Starts are placed before terminations, and the tokens run after both, so "terminate here,
start there" moves a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zennode.engine import model as m
from zennode.engine.bpmn.runner import Runner
from zennode.engine.bpmn.sub_process import open_sub_process
from zennode.engine.expressions import ExpressionFailed
from zennode.errors import BadRequest

_BOUNDARIES = (m.ERROR_BOUNDARY, m.EVENT_BOUNDARY, m.ESCALATION_BOUNDARY)


@dataclass(frozen=True, slots=True)
class Start:
    """One start instruction as the engine plans it."""

    element: m.Element
    containers: tuple[m.Element, ...]  # the element's flow scopes, outermost first
    ancestor: int | None  # an instance of one of `containers` (or the process instance)
    variables: tuple[tuple[str | None, dict[str, Any]], ...]  # (scope id, variables)


def plan_start(runner: Runner, instruction: dict[str, Any]) -> Start:
    """Check one start instruction against the model and the instance (BadRequest)."""
    process = runner.process
    element_id = instruction["elementId"]
    element = process.elements.get(element_id)
    if element is None:
        if element_id in process.flows:
            raise BadRequest(f"cannot start at '{element_id}': it is a sequence flow")
        raise BadRequest(
            f"cannot start at '{element_id}': no such element in process {process.bpmn_process_id}"
        )
    if element.kind == m.START:
        raise BadRequest(f"cannot start at '{element_id}': it is a start event")
    if element.kind in _BOUNDARIES:
        raise BadRequest(f"cannot start at '{element_id}': it is a boundary event")
    if element.triggered_by_event:
        raise BadRequest(
            f"cannot start at '{element_id}': it is an event sub-process "
            "(start at an element inside it)"
        )
    for flow_id in element.incoming:
        source = process.elements.get(process.flows[flow_id].source)
        if source is not None and source.kind == m.EVENT_GATEWAY:
            raise BadRequest(
                f"cannot start at '{element_id}': it is an event behind the event-based "
                f"gateway '{source.id}' (start at the gateway)"
            )
    containers: list[m.Element] = []
    scope_id = element.scope
    while scope_id is not None:
        container = process.elements[scope_id]
        if container.loop is not None:
            raise BadRequest(
                f"cannot start at '{element_id}': it is inside the multi-instance "
                f"activity '{container.id}'"
            )
        containers.append(container)
        scope_id = container.scope
    containers.reverse()
    ancestor = instruction.get("ancestorElementInstanceKey")
    if ancestor is not None and ancestor != runner.key:
        record = runner.elements.get(str(ancestor))
        if record is None:
            raise BadRequest(
                f"cannot start at '{element_id}': ancestor {ancestor} is not an active element "
                f"instance of process instance {runner.key}"
            )
        if record["elementId"] not in {c.id for c in containers}:
            raise BadRequest(
                f"cannot start at '{element_id}': ancestor {ancestor} (an instance of "
                f"'{record['elementId']}') is not one of its flow scopes"
            )
    variables: list[tuple[str | None, dict[str, Any]]] = []
    names = {c.id for c in containers}
    for item in instruction.get("variables") or ():
        scope = item.get("scopeId")
        if scope not in (None, "", process.bpmn_process_id) and scope not in names:
            raise BadRequest(
                f"cannot start at '{element_id}': variable scope '{scope}' is not one of its "
                "flow scopes (set the variables before or after the modification)"
            )
        variables.append((scope, item["variables"]))
    return Start(element, tuple(containers), ancestor, tuple(variables))


def reused_scopes(runner: Runner, start: Start) -> list[int]:
    """The existing element instances `start` runs in (so terminating one is refused)."""
    used: list[int] = []
    if start.ancestor is not None:
        return [k for k in _outwards(runner, start.ancestor) if k != runner.key]
    scope = runner.key
    for container in start.containers:
        found = _instances_of(runner, container, scope)
        if len(found) != 1:
            break
        scope = found[0]
        used.append(scope)
    return used


def place_start(runner: Runner, start: Start) -> None:
    """Find or create the flow scopes of `start`, set its variables and queue its token."""
    element_id = start.element.id
    scope = runner.key
    keys = {"": scope, runner.process.bpmn_process_id: scope}
    create = False
    containers = start.containers
    if start.ancestor is not None:
        create = True  # below a chosen ancestor every flow scope is new (Zeebe)
        for key in _outwards(runner, start.ancestor):
            if key != runner.key:
                keys.setdefault(runner.elements[str(key)]["elementId"], key)
        scope = start.ancestor
        containers = tuple(c for c in containers if c.id not in keys)
    for container in containers:
        found = [] if create else _instances_of(runner, container, scope)
        if len(found) > 1:
            raise BadRequest(
                f"cannot start at '{element_id}': its flow scope '{container.id}' has "
                f"{len(found)} active instances (give ancestorElementInstanceKey)"
            )
        if found:
            scope = found[0]
        else:
            create = True
            scope = _open_scope(runner, container, scope, element_id)
        keys[container.id] = scope
    for scope_id, variables in start.variables:
        runner.set_locals(scope if scope_id is None else keys[scope_id], dict(variables))
    runner.enqueue(element_id, scope, None)


def terminate(runner: Runner, key: int) -> None:
    """End element instance `key` and what runs inside it, then every flow scope around it
    left with no token (a start of the same command queued its token already, so a scope it
    needs is not empty)."""
    record = runner.elements.get(str(key))
    if record is None:
        return  # already ended inside another terminated instance of this command
    scope = record["scope"]
    _end(runner, key)
    while runner.scope_is_empty(scope):
        if scope == runner.key:
            parent = runner.instance.get("parent")
            if parent:
                raise BadRequest(
                    f"the modification would terminate process instance {runner.key}, which "
                    f"was called by instance {parent['processInstanceKey']}: modify that one"
                )
            runner.terminate_instance()
            return
        outer = runner.elements[str(scope)]["scope"]
        _end(runner, scope)
        scope = outer


def _outwards(runner: Runner, key: int) -> list[int]:
    """`key` and the scopes around it, out to the process instance."""
    found = [key]
    while key != runner.key and len(found) < 10_000:
        key = runner.elements[str(key)]["scope"]
        found.append(key)
    return found


def _end(runner: Runner, key: int) -> None:
    runner.terminate_within(key)
    runner.terminate_element_instance(key)
    runner.dirty.pop(key, None)


def _instances_of(runner: Runner, container: m.Element, scope: int) -> list[int]:
    return [
        int(k)
        for k, r in runner.elements.items()
        if r["elementId"] == container.id and r["scope"] == scope
    ]


def _open_scope(runner: Runner, container: m.Element, scope: int, element_id: str) -> int:
    if container.triggered_by_event:
        return runner.new_element_instance(container, scope)
    try:
        return open_sub_process(runner, container, scope)
    except ExpressionFailed as exc:
        raise BadRequest(
            f"cannot start at '{element_id}': creating its flow scope '{container.id}' "
            f"failed: {exc.message}"
        ) from exc
