"""update_job_retries {jobKey, retries} and update_job_timeout {jobKey, timeoutMs}.

- retries (>= 1) of an active, activated or failed job. A failed job stays failed until its
  incident is resolved (as in Zeebe), which then keeps these retries.
  -> {jobKey, retries}
- the lock of an activated job: `deadline = now_ms + timeoutMs`. -> {jobKey, deadline}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.commands._instance import load_job
from zennode.engine.context import Context

if TYPE_CHECKING:
    from zennode.engine.commands.wire import UpdateJobRetries, UpdateJobTimeout


def update_job_retries(ctx: Context, cmd: UpdateJobRetries) -> dict[str, Any]:
    job = load_job(ctx, cmd.job_key, (state.JOB_ACTIVE, state.JOB_ACTIVATED, state.JOB_FAILED))
    retries = cmd.retries
    previous = dict(job)
    job["retries"] = retries
    state.put_job(ctx, job, previous)
    return {"jobKey": job["key"], "retries": retries}


def update_job_timeout(ctx: Context, cmd: UpdateJobTimeout) -> dict[str, Any]:
    job = load_job(ctx, cmd.job_key, (state.JOB_ACTIVATED,))
    timeout_ms = cmd.timeout_ms
    previous = dict(job)
    job["deadline"] = ctx.now_ms + timeout_ms
    state.put_job(ctx, job, previous)
    return {"jobKey": job["key"], "deadline": job["deadline"]}
