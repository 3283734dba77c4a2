"""release_jobs {worker? | jobKeys?} -> {released}

Unlocks activated jobs at once (a worker's stream ended, or it gave jobs back), making them
activatable again. With `worker`, every job locked by that worker; with `jobKeys`, those jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records, state
from zennode.engine.context import Context

if TYPE_CHECKING:
    from zennode.engine.commands.wire import ReleaseJobs


def release_jobs(ctx: Context, cmd: ReleaseJobs) -> dict[str, Any]:
    worker, job_keys = cmd.worker, cmd.job_keys
    if job_keys is None:
        job_keys = [
            records.from_u64(index_key[-8:])
            for index_key, _ in ctx.db.scan(
                "jobs_by_state", records.job_state_prefix(state.JOB_ACTIVATED)
            )
        ]
    released = 0
    for key in job_keys:
        job = state.get_job(ctx.db, key)
        if job is None or job["state"] != state.JOB_ACTIVATED:
            continue
        if worker is not None and job.get("worker") != worker:
            continue
        make_activatable(ctx, job)
        released += 1
    return {"released": released}


def make_activatable(ctx: Context, job: dict[str, Any], reason: str = "released") -> None:
    previous = dict(job)
    job["state"] = state.JOB_ACTIVE
    job.pop("worker", None)
    job.pop("deadline", None)
    state.put_job(ctx, job, previous)
    ctx.emit(
        "job_activatable",
        jobKey=job["key"],
        type=job["type"],
        processInstanceKey=job["processInstanceKey"],
        activatableAt=job.get("activatableAt", ctx.now_ms),
        job=job,
        reason=reason,  # "released" or "timeout" (the timed-out jobs metric)
    )
