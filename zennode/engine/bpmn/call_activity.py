"""Call activities: a child instance of another process (its latest version, or with
`bindingType="deployment"` the version deployed together with the calling process).

The child lives on the parent's partition (one command creates, completes or cancels both,
so parent and child can never disagree). Without output mappings, all of the child's
variables return to the parent (`propagateAllChildVariables`, default true), propagated from the
call activity's scope; the child starts with all of the variables visible to the call activity
(`propagateAllParentVariables`, default true) plus its input mappings (also the call activity's
local variables, seen by its output mappings). Cancelling or interrupting the parent terminates
the child; an error the child does not catch is thrown at the call activity in the parent.
"""

from __future__ import annotations

from typing import Any

from zennode.engine import model as m
from zennode.engine import records, retention, state
from zennode.engine.bpmn.runner import (
    CALLED_ELEMENT_ERROR,
    EXTRACT_VALUE_ERROR,
    Runner,
)
from zennode.engine.expressions import ExpressionFailed, evaluate_string

CALL_DEPTH_MAX = 32


def activate_call_activity(
    runner: Runner, element: m.Element, scope: int, flow: str | None
) -> None:
    from zennode.engine.bpmn.instances import start_instance

    call = element.call
    assert call is not None
    context = runner.context(scope)
    try:
        process_id = evaluate_string(call.process_id, context, "called process id")
        local = runner.inputs(element, scope)
        child_variables = {**context, **local} if call.propagate_all_parent else dict(local)
        prepared = runner.prepare_waits(runner.boundary_events(element, scope), scope)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    ctx = runner.ctx
    definition_key, problem = _called_definition(runner, call, process_id)
    depth = runner.instance.get("parent", {}).get("depth", 0) + 1
    if definition_key is not None:
        if ctx.deployed(definition_key).process.start is None:
            problem = f"process '{process_id}' has no none start event to call"
        elif depth > CALL_DEPTH_MAX:
            problem = f"call activities nest deeper than {CALL_DEPTH_MAX}"
    if problem is not None or definition_key is None:
        runner.incident_at(element, scope, flow, CALLED_ELEMENT_ERROR, problem or "")
        return
    ei_key = runner.new_element_instance(element, scope)
    runner.keep_locals(element, scope, ei_key, local)
    runner.open_waits(ei_key, prepared)
    root_key = retention.root_of(runner.instance)
    parent = {
        "processInstanceKey": runner.key,
        "elementInstanceKey": ei_key,
        "depth": depth,
        "rootKey": root_key,
    }
    child_key = ctx.next_key()  # reserved so the record names its child before the child runs
    runner.elements[str(ei_key)]["childKey"] = child_key
    retention.register_child(ctx, root_key, child_key)  # deleted with its root
    ctx.db.put("index", records.child_of_key(runner.key, child_key), b"")  # its children
    child = start_instance(ctx, definition_key, child_variables, parent=parent, key=child_key)
    child.save()


def _called_definition(
    runner: Runner, call: m.Call, process_id: str
) -> tuple[int | None, str | None]:
    """The definition key the call binds to, or (None, the problem): `latest` takes the latest
    version; `deployment` the version deployed in the same deployment as the calling
    process (Zeebe's rule; another deployment's version does not count)."""
    db = runner.ctx.db
    if call.binding != "deployment":
        latest = state.latest_definition_key(db, process_id)
        if latest is None:
            return None, f"no process with id '{process_id}' is deployed"
        return latest, None
    caller = state.get_definition(db, runner.instance["processDefinitionKey"])
    deployment_key = caller.get("deploymentKey") if caller else None
    found = (
        None
        if deployment_key is None
        else state.definition_key_in_deployment(db, deployment_key, process_id)
    )
    if found is None:
        return None, (
            f"no process '{process_id}' in the deployment of the calling process"
            f" (deployment {deployment_key}; bindingType 'deployment')"
        )
    return found, None


def child_completed(child: Runner) -> None:
    """The child finished: map its variables back and move the parent's token on."""
    parent_info = child.instance["parent"]
    parent = _runner(child, parent_info["processInstanceKey"])
    if parent is None:
        return
    ei_key = parent_info["elementInstanceKey"]
    record = parent.elements.get(str(ei_key))
    if record is None or record.get("childKey") != child.key:
        return
    element = parent.process.elements[record["elementId"]]
    assert element.call is not None
    del record["childKey"]
    returned = element.outputs or element.call.propagate_all_child
    # A failing output mapping leaves an incident; resolving it maps these variables again.
    parent.complete_element(ei_key, dict(child.variables) if returned else {})
    _finish(parent)


def terminate_child(parent: Runner, child_key: int) -> None:
    child = _runner(parent, child_key)
    if child is not None:
        child.terminate_instance()
        child.save()


def throw_to_parent(
    child: Runner, code: str | None, variables: dict[str, Any] | None = None
) -> bool:
    """An error the child did not catch: thrown at the call activity in the parent."""
    parent_info = child.instance["parent"]
    parent = _runner(child, parent_info["processInstanceKey"])
    if parent is None:
        return False
    ei_key = parent_info["elementInstanceKey"]
    record = parent.elements.get(str(ei_key))
    if record is None:
        return False
    element = parent.process.elements[record["elementId"]]
    caught = parent.throw_error(code, record["scope"], (element, ei_key), variables)
    if caught:
        _finish(parent)
    return caught


def escalate_to_parent(child: Runner, code: str) -> tuple[bool, bool]:
    """An escalation the child did not catch: thrown at the call activity in the parent.

    When the parent interrupts the call activity, the child is terminated with it."""
    parent_info = child.instance["parent"]
    parent = _runner(child, parent_info["processInstanceKey"])
    if parent is None:
        return False, False
    ei_key = parent_info["elementInstanceKey"]
    record = parent.elements.get(str(ei_key))
    if record is None:
        return False, False
    caught, interrupted = parent.throw_escalation(code, ei_key)
    if caught:
        _finish(parent)
    return caught, interrupted


def _runner(other: Runner, key: int) -> Runner | None:
    ctx = other.ctx
    existing = ctx.runners.get(key)
    if existing is not None:
        return existing if existing.instance["state"] == state.INSTANCE_ACTIVE else None
    instance = state.get_instance(ctx.db, key)
    if instance is None or instance["state"] != state.INSTANCE_ACTIVE:
        return None
    return Runner(ctx, ctx.deployed(instance["processDefinitionKey"]).process, instance)


def _finish(runner: Runner) -> None:
    """Run a runner that is not already running further up the stack, and store it."""
    if not runner.running:
        runner.run()
    runner.save()
