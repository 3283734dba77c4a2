"""activate_jobs {jobType, worker, timeoutMs, maxJobs, jobKeys?} -> {jobs: [job, ...]}

Locks activatable jobs of `jobType` for `worker` until `deadline = now_ms + timeoutMs`. With
`jobKeys` (the job manager pushing chosen jobs) only those are considered, and the ones that are
no longer activatable are skipped. A job whose task has no input mappings gets the instance's
current variables. Each activated job emits `job_activated` with its worker and deadline
(activation latency metrics; a new leader's job manager counts it against the worker's limit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records, scopes, state
from zennode.engine.bpmn.tasks import job_variables, lock_job
from zennode.engine.context import Context
from zennode.engine.expressions import ExpressionFailed

if TYPE_CHECKING:
    from zennode.engine.commands.wire import ActivateJobs

SCAN_MAX = 10_000  # jobs looked at per activation (jobs in back-off are skipped)


def activate_jobs(ctx: Context, cmd: ActivateJobs) -> dict[str, Any]:
    job_type, worker, timeout_ms, max_jobs = cmd.job_type, cmd.worker, cmd.timeout_ms, cmd.max_jobs
    now = ctx.now_ms
    chosen: list[dict[str, Any]] = []
    if cmd.job_keys is not None:
        for key in cmd.job_keys:
            job = state.get_job(ctx.db, key)
            if job is not None and job["type"] == job_type and _activatable(job, now):
                chosen.append(job)
                if len(chosen) >= max_jobs:
                    break
    else:
        prefix = records.job_state_prefix(state.JOB_ACTIVE, job_type)
        for scanned, (index_key, _) in enumerate(ctx.db.scan("jobs_by_state", prefix)):
            if scanned >= SCAN_MAX or len(chosen) >= max_jobs:
                break
            job = state.get_job(ctx.db, records.from_u64(index_key[-8:]))
            if job is not None and job["type"] == job_type and _activatable(job, now):
                chosen.append(job)
    instances: dict[int, dict[str, Any] | None] = {}
    for job in chosen:
        # Refreshed first: `lock_job` stores the job with the variables the worker gets.
        _refresh_variables(ctx, job, instances)
        lock_job(ctx, job, worker, timeout_ms)
    return {"jobs": chosen}


def _activatable(job: dict[str, Any], now: int) -> bool:
    return job["state"] == state.JOB_ACTIVE and job.get("activatableAt", 0) <= now


def _refresh_variables(
    ctx: Context, job: dict[str, Any], instances: dict[int, dict[str, Any] | None]
) -> None:
    """Give the job the instance's variables as they are now (input mappings re-evaluated)."""
    instance_key = job["processInstanceKey"]
    if instance_key not in instances:
        instances[instance_key] = state.get_instance(ctx.db, instance_key)
    instance = instances[instance_key]
    if instance is None:
        return
    element = ctx.deployed(instance["processDefinitionKey"]).process.elements.get(job["elementId"])
    if element is None:
        return
    try:
        ei_key = job["elementInstanceKey"]
        record = instance["elements"].get(str(ei_key))
        if record is None:
            return
        scope = record["scope"]
        # Inputs are evaluated where the task runs; the inner activity of a multi-instance body
        # keeps its input-mapped locals in its iteration, so those are hidden from them.
        hide = None
        iteration = instance["elements"].get(str(scope))
        if element.inputs and iteration and iteration.get("iteration"):
            heads = frozenset(mapping.target.split(".", 1)[0] for mapping in element.inputs)
            hide = (scope, heads)
        flow_context = scopes.visible(instance, scope, hide)
        own = scopes.visible(instance, ei_key) if not element.inputs else flow_context
        job["variables"] = job_variables(element, flow_context, own)
    except ExpressionFailed:
        pass  # keep the variables computed when the job was created
