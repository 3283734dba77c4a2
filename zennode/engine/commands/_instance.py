"""Loading the instance a job or incident belongs to, with its runner."""

from __future__ import annotations

from zennode.engine import state
from zennode.engine.bpmn.runner import Runner
from zennode.engine.context import Context
from zennode.errors import InvalidState, NotFound


def runner_for(ctx: Context, instance_key: int) -> Runner:
    instance = state.get_instance(ctx.db, instance_key)
    if instance is None:
        raise NotFound(f"process instance {instance_key} not found")
    if instance["state"] != state.INSTANCE_ACTIVE:
        raise InvalidState(f"process instance {instance_key} is {instance['state']}")
    deployed = ctx.deployed(instance["processDefinitionKey"])
    return Runner(ctx, deployed.process, instance)


def load_job(ctx: Context, cmd_key: object, states: tuple[str, ...]) -> dict:
    """The job with `cmd_key`, which must be in one of `states`."""
    if isinstance(cmd_key, bool) or not isinstance(cmd_key, int):
        from zennode.errors import BadRequest

        raise BadRequest("jobKey must be an integer")
    job = state.get_job(ctx.db, cmd_key)
    if job is None:
        raise NotFound(f"job {cmd_key} not found")
    if job["state"] not in states:
        raise InvalidState(f"job {cmd_key} is {job['state']}, expected {' or '.join(states)}")
    return job
