"""Tasks: pass-through tasks, FEEL script tasks, business rule tasks (DMN decisions) and
tasks that wait for a job."""

from __future__ import annotations

from typing import Any

from zennode import dmn
from zennode.dmn.evaluate import json_value
from zennode.engine import decisions, state
from zennode.engine import model as m
from zennode.engine.bpmn.runner import (
    CALLED_DECISION_ERROR,
    DECISION_EVALUATION_ERROR,
    EXTRACT_VALUE_ERROR,
    IO_MAPPING_ERROR,
    Runner,
)
from zennode.engine.expressions import (
    ExpressionFailed,
    evaluate,
    evaluate_int,
    evaluate_string,
)
from zennode.engine.variables import assign, map_into
from zennode.errors import NotFound


def activate_pass(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    runner.pass_through(element, scope, flow)


def activate_script(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    assert element.script is not None and element.result_variable is not None
    try:
        map_into(element.inputs, runner.context(scope), runner.variables)
        value = evaluate(element.script, runner.context(scope))
        assign(runner.variables, element.result_variable, value)
        map_into(element.outputs, runner.context(scope), runner.variables)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    runner.leave(element, scope)


def activate_business_rule(
    runner: Runner, element: m.Element, scope: int, flow: str | None
) -> None:
    """Evaluate the called decision in place: its output goes to the result variable (local
    to the task when it has output mappings, which then apply). A missing decision or a
    failed evaluation is an incident; resolving it activates the task again, so the decision
    is evaluated again."""
    call = element.decision
    assert call is not None and element.result_variable is not None
    ctx = runner.ctx
    try:
        map_into(element.inputs, runner.context(scope), runner.variables)
        decision_id = evaluate_string(call.decision_id, runner.context(scope), "decision id")
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    try:
        process = state.get_definition(ctx.db, runner.instance["processDefinitionKey"])
        deployed_at = process["deployedAt"] if process else None
        record = decisions.resolve(ctx.db, decision_id, call.binding, call.version_tag, deployed_at)
    except NotFound as exc:
        runner.incident_at(element, scope, flow, CALLED_DECISION_ERROR, exc.message)
        return
    try:
        result = decisions.evaluate(ctx.db, record, runner.context(scope), ctx.now_ms)
    except dmn.DecisionError as exc:
        message = f"failed to evaluate decision '{exc.decision_id}': {exc}"
        runner.incident_at(element, scope, flow, DECISION_EVALUATION_ERROR, message)
        return
    try:
        value = json_value(result.output)
        if element.outputs:  # as in Zeebe: the result is then local, only mappings leave
            local = dict(runner.context(scope))
            assign(local, element.result_variable, value)
            map_into(element.outputs, local, runner.variables)
        else:
            assign(runner.variables, element.result_variable, value)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message)
        return
    runner.leave(element, scope)


def job_variables(element: m.Element, variables: dict[str, Any]) -> dict[str, Any]:
    """What a job sees: its input mappings, or (without any) all instance variables."""
    if not element.inputs:
        return dict(variables)
    shaped: dict[str, Any] = {}
    map_into(element.inputs, variables, shaped)
    return shaped


def activate_job_task(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Create the element instance and its job; the token waits for the job to complete."""
    task = element.task
    assert task is not None
    variables = runner.context(scope)
    try:
        job_variables_ = job_variables(element, variables)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message)
        return
    try:
        job_type = evaluate_string(task.job_type, variables, "job type")
        retries = evaluate_int(task.retries, variables, "job retries")
        prepared = (
            runner.prepare_waits(runner.boundary_events(element, scope), scope)
            if element.boundaries
            else None
        )
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    ctx = runner.ctx
    ei_key = runner.new_element_instance(element, scope)
    if prepared:
        runner.open_waits(ei_key, prepared)
    job_key = ctx.next_key()
    runner.elements[str(ei_key)]["jobKey"] = job_key
    instance = runner.instance
    job = {
        "key": job_key,
        "type": job_type,
        "elementId": element.id,
        "processInstanceKey": runner.key,
        "elementInstanceKey": ei_key,
        "processDefinitionKey": instance["processDefinitionKey"],
        "bpmnProcessId": instance["bpmnProcessId"],
        "processDefinitionVersion": instance["version"],
        "state": state.JOB_ACTIVE,
        "createdAt": ctx.now_ms,
        "variables": job_variables_,
        "retries": max(retries, 0),
        "customHeaders": dict(task.headers),
    }
    state.put_job(ctx, job)
    ctx.emit("job_created", jobKey=job_key, type=job_type, processInstanceKey=runner.key, job=job)


def complete_job_task(
    runner: Runner, ei_key: int, completion: dict[str, Any], local: dict[str, Any]
) -> None:
    """The job is done: map its variables into the scope and move the token on.

    Output mappings see the instance variables, then the task's local variables (what its
    input mappings produced, as in Zeebe), then the completion variables.
    """
    record = runner.elements[str(ei_key)]
    element = runner.process.elements[record["elementId"]]
    try:
        if element.outputs:
            context = {**runner.context(record["scope"]), **local, **completion}
            updated = dict(runner.variables)
            map_into(element.outputs, context, updated)
            runner.replace_variables(updated)
        else:
            runner.variables.update(completion)
    except ExpressionFailed as exc:
        record["retry"] = "complete"
        record["completion"] = completion
        record["local"] = local
        runner.open_incident(ei_key, element.id, IO_MAPPING_ERROR, exc.message)
        return
    runner.remove_element_instance(ei_key)
    runner.leave(element, record["scope"])
