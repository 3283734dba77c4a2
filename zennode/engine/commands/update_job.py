"""update_job_retries {jobKey, retries} and update_job_timeout {jobKey, timeoutMs}.

- retries (>= 1) of an active, activated or failed job. A failed job stays failed until its
  incident is resolved (as in Zeebe), which then keeps these retries.
  -> {jobKey, retries}
- the lock of an activated job: `deadline = now_ms + timeoutMs`. -> {jobKey, deadline}
"""

from __future__ import annotations

from typing import Any

from zennode.engine import state
from zennode.engine.commands._fields import int_field
from zennode.engine.commands._instance import load_job
from zennode.engine.context import Context


def update_job_retries(ctx: Context, cmd: dict[str, Any]) -> dict[str, Any]:
    job = load_job(
        ctx, cmd.get("jobKey"), (state.JOB_ACTIVE, state.JOB_ACTIVATED, state.JOB_FAILED)
    )
    retries = int_field(cmd, "retries", minimum=1)
    previous = dict(job)
    job["retries"] = retries
    state.put_job(ctx, job, previous)
    return {"jobKey": job["key"], "retries": retries}


def update_job_timeout(ctx: Context, cmd: dict[str, Any]) -> dict[str, Any]:
    job = load_job(ctx, cmd.get("jobKey"), (state.JOB_ACTIVATED,))
    timeout_ms = int_field(cmd, "timeoutMs", minimum=1)
    previous = dict(job)
    job["deadline"] = ctx.now_ms + timeout_ms
    state.put_job(ctx, job, previous)
    return {"jobKey": job["key"], "deadline": job["deadline"]}
