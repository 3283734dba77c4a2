"""timeout_jobs {} -> {timedOut, more}

Frees every activated job whose lock deadline is <= now_ms (at most `TIMEOUTS_MAX` per command;
`more` tells the caller to send another one), making it activatable again (`job_activatable`
with `reason: "timeout"`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records, state
from zennode.engine.commands.release_jobs import make_activatable
from zennode.engine.context import Context

if TYPE_CHECKING:
    from zennode.engine.commands.wire import TimeoutJobs

TIMEOUTS_MAX = 1000


def timeout_jobs(ctx: Context, cmd: TimeoutJobs) -> dict[str, Any]:
    due: list[int] = []
    more = False
    for index_key, _ in ctx.db.scan("jobs_by_deadline"):
        if records.from_u64(index_key[:8]) > ctx.now_ms:
            break
        if len(due) >= TIMEOUTS_MAX:
            more = True
            break
        due.append(records.second_of_pair(index_key))
    count = 0
    for key in due:
        job = state.get_job(ctx.db, key)
        if job is not None and job["state"] == state.JOB_ACTIVATED:
            make_activatable(ctx, job, reason="timeout")
            count += 1
    return {"timedOut": count, "more": more}
