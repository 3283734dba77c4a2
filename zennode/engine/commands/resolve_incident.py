"""resolve_incident {incidentKey} -> {incidentKey, processInstanceKey}

A job incident makes the job activatable again with at least one retry. Any other incident
retries what failed: the element's activation, or its completion (output mappings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.bpmn.multi_instance import resume_body
from zennode.engine.bpmn.runner import EI_ACTIVE, Runner
from zennode.engine.commands._instance import runner_for
from zennode.engine.context import Context
from zennode.errors import InvalidState, NotFound

if TYPE_CHECKING:
    from zennode.engine.commands.wire import ResolveIncident


def resolve_incident(ctx: Context, cmd: ResolveIncident) -> dict[str, Any]:
    key = cmd.incident_key
    incident = state.get_incident(ctx.db, key)
    if incident is None:
        raise NotFound(f"incident {key} not found")
    if incident["state"] != state.INCIDENT_ACTIVE:
        raise InvalidState(f"incident {key} is already {incident['state']}")
    runner = runner_for(ctx, incident["processInstanceKey"])
    runner.close_incident(key)
    job_key = incident.get("jobKey")
    if job_key is not None:
        _reactivate_job(runner, incident, job_key)
    else:
        keys = [incident["elementInstanceKey"], *incident.get("moreElementInstanceKeys", ())]
        for ei_key in keys:
            _retry_element(runner, ei_key)
    runner.run()
    runner.save()
    return {"incidentKey": key, "processInstanceKey": incident["processInstanceKey"]}


def _reactivate_job(runner: Runner, incident: dict[str, Any], job_key: int) -> None:
    ctx = runner.ctx
    record = runner.elements.get(str(incident["elementInstanceKey"]))
    if record is not None:
        record["state"] = EI_ACTIVE
        record.pop("incidentKey", None)
    job = state.get_job(ctx.db, job_key)
    if job is None or job["state"] != state.JOB_FAILED:
        return
    previous = dict(job)
    job["state"] = state.JOB_ACTIVE
    job["retries"] = max(job["retries"], 1)
    job.pop("activatableAt", None)
    state.put_job(ctx, job, previous)
    ctx.emit(
        "job_activatable",
        jobKey=job_key,
        type=job["type"],
        processInstanceKey=job["processInstanceKey"],
        activatableAt=ctx.now_ms,
        job=job,
    )


def _retry_element(runner: Runner, ei_key: int) -> None:
    record = runner.elements.get(str(ei_key))
    if record is None:
        return
    record.pop("incidentKey", None)
    if record.get("mi") is not None:  # a multi-instance body: continue where it stopped
        record["state"] = EI_ACTIVE
        resume_body(runner, runner.process.elements[record["elementId"]], ei_key)
        return
    if record.get("retry") == "complete":  # its output mappings failed: complete it again
        del record["retry"]
        record["state"] = EI_ACTIVE
        runner.complete_element(ei_key, record.pop("completion", {}), record.pop("local", None))
        return
    runner.drop_element_instance(ei_key)
    element = runner.process.elements[record["elementId"]]
    if record.get("retry") == "pass":  # an event that already happened: pass it again
        runner.pass_through(element, record["scope"], record.get("flow"), record.get("trigger", {}))
        return
    runner.enqueue(record["elementId"], record["scope"], record.get("flow"), record.get("trigger"))
