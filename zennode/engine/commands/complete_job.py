"""complete_job {jobKey, variables?, worker?} -> {jobKey, processInstanceKey}

The job must be active or activated (else InvalidState; unknown key: NotFound); with `worker`,
an activated job must be locked by that worker (else InvalidState). Its variables
go through the task's output mappings (or all of them into the scope) and the token moves on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.bpmn.tasks import complete_job_task
from zennode.engine.commands._instance import check_lock, load_job, runner_for
from zennode.engine.context import Context

if TYPE_CHECKING:
    from zennode.engine.commands.wire import CompleteJob


def complete_job(ctx: Context, cmd: CompleteJob) -> dict[str, Any]:
    job = load_job(ctx, cmd.job_key, (state.JOB_ACTIVE, state.JOB_ACTIVATED))
    check_lock(job, cmd.worker)
    variables = cmd.variables
    runner = runner_for(ctx, job["processInstanceKey"])
    ei_key = job["elementInstanceKey"]
    record = runner.elements.get(str(ei_key))
    assert record is not None and record.get("jobKey") == job["key"], "job without its element"
    del record["jobKey"]
    runner.finish_job(job["key"], state.JOB_COMPLETED, "job_completed", job=dict(job))
    element = runner.process.elements[job["elementId"]]
    local = job["variables"] if element.inputs else None
    complete_job_task(runner, ei_key, dict(variables), local)
    runner.run()
    runner.save()
    return {"jobKey": job["key"], "processInstanceKey": job["processInstanceKey"]}
