"""Loading the instance a job or incident belongs to, with its runner."""

from __future__ import annotations

from zennode.engine import state
from zennode.engine.bpmn.runner import Runner
from zennode.engine.context import Context
from zennode.errors import InvalidState, NotFound


def runner_for(ctx: Context, instance_key: int) -> Runner:
    existing = ctx.runners.get(instance_key)
    if existing is not None:
        if existing.instance["state"] != state.INSTANCE_ACTIVE:
            raise InvalidState(f"process instance {instance_key} is {existing.instance['state']}")
        return existing
    instance = state.get_instance(ctx.db, instance_key)
    if instance is None:
        raise NotFound(f"process instance {instance_key} not found")
    if instance["state"] != state.INSTANCE_ACTIVE:
        raise InvalidState(f"process instance {instance_key} is {instance['state']}")
    deployed = ctx.deployed(instance["processDefinitionKey"])
    return Runner(ctx, deployed.process, instance)


def load_job(ctx: Context, job_key: int, states: tuple[str, ...]) -> dict:
    """The job with `job_key`, which must be in one of `states`."""
    job = state.get_job(ctx.db, job_key)
    if job is None:
        raise NotFound(f"job {job_key} not found")
    if job["state"] not in states:
        raise InvalidState(f"job {job_key} is {job['state']}, expected {' or '.join(states)}")
    return job


def check_lock(job: dict, worker: str | None) -> None:
    """With a `worker` in the command, an activated job must be locked by that worker.

    Done here, in the replicated apply, so a worker whose lock expired and was handed to
    another worker cannot complete the job under the new holder's feet.
    """
    if worker is None:
        return
    holder = job.get("worker")
    if holder is not None and holder != worker:
        raise InvalidState(f"job {job['key']} is locked by another worker")
