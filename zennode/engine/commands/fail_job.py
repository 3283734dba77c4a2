"""fail_job {jobKey, retries?, errorCode?, message?, variables?, retryBackoffMs?, worker?}

The job must be active or activated; with `worker`, locked by that worker (as complete_job).

-> {jobKey, state, retries, incidentKey?, caught?}

- `errorCode`: thrown as a BPMN error. Caught by an error boundary (on the task or an enclosing
  sub-process) or an error event sub-process: the variables propagate from the catching event
  and its path is taken; the job ends `completed`. Not caught: the job is `failed` with an
  UNHANDLED_ERROR_EVENT incident.
- otherwise `retries` = the given number, or the current one minus 1. Above 0 the job is
  activatable again (`activatableAt` = now + `retryBackoffMs`), at 0 it is `failed` with a
  JOB_NO_RETRIES incident. The variables are merged into the job's own variables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.bpmn.runner import JOB_NO_RETRIES, UNHANDLED_ERROR_EVENT, Runner
from zennode.engine.commands._instance import check_lock, load_job, runner_for
from zennode.engine.context import Context

if TYPE_CHECKING:
    from zennode.engine.commands.wire import FailJob


def fail_job(ctx: Context, cmd: FailJob) -> dict[str, Any]:
    """Also the handler of `throw_error` (a `ThrowError` is a `FailJob`)."""
    job = load_job(ctx, cmd.job_key, (state.JOB_ACTIVE, state.JOB_ACTIVATED))
    check_lock(job, cmd.worker)
    retries, backoff_ms = cmd.retries, cmd.retry_backoff_ms or 0
    error_code, message, variables = cmd.error_code, cmd.message, cmd.variables
    runner = runner_for(ctx, job["processInstanceKey"])
    if error_code is not None:
        result = _throw(runner, job, error_code, message, variables)
    else:
        result = _retry_or_incident(runner, job, retries, backoff_ms, message, variables)
    runner.run()
    runner.save()
    return result


def _throw(
    runner: Runner,
    job: dict[str, Any],
    code: str,
    message: str,
    variables: dict[str, Any],
) -> dict[str, Any]:
    ctx = runner.ctx
    ei_key = job["elementInstanceKey"]
    record = runner.elements[str(ei_key)]
    element = runner.process.elements[job["elementId"]]
    # Detach the job so interrupting its element does not mark it terminated.
    record.pop("jobKey", None)
    if runner.throw_error(code, record["scope"], (element, ei_key), variables):
        runner.finish_job(
            job["key"], state.JOB_COMPLETED, "job_completed", errorCode=code, errorMessage=message
        )
        return {"jobKey": job["key"], "state": state.JOB_COMPLETED, "caught": True}
    record["jobKey"] = job["key"]
    previous = dict(job)
    job["state"] = state.JOB_FAILED
    job["errorCode"] = code
    job["errorMessage"] = message
    job.pop("deadline", None)
    job.pop("worker", None)
    state.put_job(ctx, job, previous)
    _emit_failed(ctx, job)
    incident = runner.open_incident(
        ei_key,
        element.id,
        UNHANDLED_ERROR_EVENT,
        f"error '{code}' thrown by job {job['key']} was not caught: {message}".rstrip(": "),
        job_key=job["key"],
    )
    return {"jobKey": job["key"], "state": state.JOB_FAILED, "incidentKey": incident}


def _retry_or_incident(
    runner: Runner,
    job: dict[str, Any],
    retries: int | None,
    backoff_ms: int,
    message: str,
    variables: dict[str, Any],
) -> dict[str, Any]:
    ctx = runner.ctx
    previous = dict(job)
    remaining = job["retries"] - 1 if retries is None else retries
    job["retries"] = max(remaining, 0)
    job["errorMessage"] = message
    job.pop("deadline", None)
    job.pop("worker", None)
    if variables:
        job["variables"] = {**job["variables"], **variables}
    if remaining > 0:
        job["state"] = state.JOB_ACTIVE
        activatable_at = ctx.now_ms + backoff_ms
        if backoff_ms > 0:
            job["activatableAt"] = activatable_at
        else:
            job.pop("activatableAt", None)
        state.put_job(ctx, job, previous)
        _emit_failed(ctx, job)
        ctx.emit(
            "job_activatable",
            jobKey=job["key"],
            type=job["type"],
            processInstanceKey=job["processInstanceKey"],
            activatableAt=activatable_at,
            job=job,
        )
        return {"jobKey": job["key"], "state": state.JOB_ACTIVE, "retries": job["retries"]}
    job["state"] = state.JOB_FAILED
    state.put_job(ctx, job, previous)
    _emit_failed(ctx, job)
    incident = runner.open_incident(
        job["elementInstanceKey"],
        job["elementId"],
        JOB_NO_RETRIES,
        message or f"job {job['key']} failed with no retries left",
        job_key=job["key"],
    )
    return {
        "jobKey": job["key"],
        "state": state.JOB_FAILED,
        "retries": 0,
        "incidentKey": incident,
    }


def _emit_failed(ctx: Context, job: dict[str, Any]) -> None:
    ctx.emit(
        "job_failed",
        jobKey=job["key"],
        type=job["type"],
        processInstanceKey=job["processInstanceKey"],
        retries=job["retries"],
        errorCode=job.get("errorCode"),
    )
