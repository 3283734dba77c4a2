"""Tasks: pass-through tasks, FEEL script tasks, business rule tasks (DMN decisions) and
tasks that wait for a job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from zennode.engine.variables import assign_into, evaluate_mappings
from zennode.errors import NotFound

if TYPE_CHECKING:
    from zennode.engine.context import Context


def activate_pass(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    runner.pass_through(element, scope, flow)


def activate_script(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Evaluate the FEEL script; its result is what the task completes with (like a job's
    variables): propagated from the task, or seen by its output mappings."""
    assert element.script is not None and element.result_variable is not None
    try:
        local = runner.inputs(element, scope)
        inner = runner.is_inner(element, scope)
        if inner:
            runner.set_locals(scope, local)
        context = runner.context(scope)
        if local and not inner:
            context = {**context, **local}
        result: dict[str, Any] = {}
        value = evaluate(element.script, context)
        assign_into(result, element.result_variable, value, context)
        runner.finish(element, scope, scope, result, overlay=None if inner else local)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    runner.leave(element, scope)


def activate_business_rule(
    runner: Runner, element: m.Element, scope: int, flow: str | None
) -> None:
    """Evaluate the called decision in place. Its output is what the task completes with (as
    a script task's result): propagated from the task, or seen by its output mappings. A
    missing decision or a failed evaluation is an incident; resolving it activates the task
    again, so the decision is evaluated again."""
    call = element.decision
    assert call is not None and element.result_variable is not None
    ctx = runner.ctx
    try:
        local = runner.inputs(element, scope)
        inner = runner.is_inner(element, scope)
        if inner:
            runner.set_locals(scope, local)
        context = runner.context(scope)
        if local and not inner:
            context = {**context, **local}
        decision_id = evaluate_string(call.decision_id, context, "decision id")
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    try:
        process = state.get_definition(ctx.db, runner.instance["processDefinitionKey"])
        deployment = process.get("deploymentKey") if process else None
        record = decisions.resolve(ctx.db, decision_id, call.binding, call.version_tag, deployment)
    except NotFound as exc:
        runner.incident_at(element, scope, flow, CALLED_DECISION_ERROR, exc.message)
        return
    try:
        evaluated = decisions.evaluate(ctx.db, record, context, ctx.now_ms)
    except dmn.DecisionError as exc:
        message = f"failed to evaluate decision '{exc.decision_id}': {exc}"
        runner.incident_at(element, scope, flow, DECISION_EVALUATION_ERROR, message)
        return
    try:
        result: dict[str, Any] = {}
        assign_into(result, element.result_variable, json_value(evaluated.output), context)
        runner.finish(element, scope, scope, result, overlay=None if inner else local)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message)
        return
    runner.leave(element, scope)


def job_variables(
    element: m.Element, flow_context: dict[str, Any], own_context: dict[str, Any]
) -> dict[str, Any]:
    """What a job sees: its input mappings evaluated in the scope the task runs in, or
    (without any) every variable visible to the task (ZenBPM's choice, kept)."""
    if not element.inputs:
        return dict(own_context)
    return evaluate_mappings(element.inputs, flow_context)


def activate_job_task(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    """Create the element instance and its job; the token waits for the job to complete."""
    task = element.task
    assert task is not None
    variables = runner.context(scope)
    try:
        job_variables_ = job_variables(element, variables, variables)
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
    if element.inputs:  # the task's local variables (its iteration's, for a multi-instance)
        runner.keep_locals(element, scope, ei_key, job_variables_)
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
    offers = ctx.offers
    offer = offers.take(job_type) if offers is not None else None
    if offers is not None and offer is not None:
        # A worker waits (the leader put its offer in this batch): activate the job now, as
        # `activate_jobs` would, instead of in a second commit. Its variables were just
        # computed, so there is nothing to refresh.
        activated = dict(job)
        lock_job(ctx, activated, offer.worker, offer.lock_ms)
        offers.activated(offer, activated)


def lock_job(ctx: Context, job: dict[str, Any], worker: str, timeout_ms: int) -> None:
    """Activate an activatable `job` (its stored form, changed in place) for `worker` until
    `now + timeout_ms`; emits `job_activated`. The one place a job gets locked to a worker:
    `activate_jobs`, and job creation with a push offer (zennode.engine.offers)."""
    previous = dict(job)
    now = ctx.now_ms
    job["state"] = state.JOB_ACTIVATED
    job["worker"] = worker
    job["deadline"] = now + timeout_ms
    job.pop("activatableAt", None)
    state.put_job(ctx, job, previous)
    ctx.emit(
        "job_activated",
        jobKey=job["key"],
        type=job["type"],
        processInstanceKey=job["processInstanceKey"],
        worker=worker,
        deadline=job["deadline"],
        createdAt=job.get("createdAt"),
        activatedAt=now,
    )


def complete_job_task(
    runner: Runner, ei_key: int, completion: dict[str, Any], local: dict[str, Any] | None
) -> None:
    """The job is done: its variables propagate from the task (or, with output mappings, are
    local to it and the mappings' results propagate from its scope); the token moves on.

    `local` are the job's input-mapped variables as the worker got them (re-evaluated at
    activation); the output mappings see them over the task's stored locals."""
    runner.complete_element(ei_key, completion, local or None)
