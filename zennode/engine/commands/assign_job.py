"""assign_job {jobKey, assignee} -> {jobKey, assignee}

Names the user a job is assigned to (ZenBPM's `POST /jobs/{key}/assign`), replacing an earlier
assignee; the job view shows it and `GET /v1/jobs?assignee=` finds it (an index kept by
`state.put_job`). Only a job that still waits (active, activated, or failed at an incident)
can be assigned: a completed or terminated one is InvalidState (409), an unknown one NotFound.
Assigning locks nothing: any worker may still complete the job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.commands._instance import load_job
from zennode.engine.context import Context

if TYPE_CHECKING:
    from zennode.engine.commands.wire import AssignJob


def assign_job(ctx: Context, cmd: AssignJob) -> dict[str, Any]:
    job = load_job(ctx, cmd.job_key, (state.JOB_ACTIVE, state.JOB_ACTIVATED, state.JOB_FAILED))
    previous = dict(job)
    job["assignee"] = cmd.assignee
    state.put_job(ctx, job, previous)
    return {"jobKey": job["key"], "assignee": cmd.assignee}
