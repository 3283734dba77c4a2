"""deploy_resources {resources: [deploy | deploy_decisions command, ...]}

-> {deploymentKey, duplicate, resources: [the deploy / deploy_decisions result of each, in the
order given]}

One deployment (Zeebe's: the resources of one deploy call) in one command, so it is stored all
or nothing: a resource refused inside the apply refuses the command, and the engine's overlay
leaves the state as it was (engine.py).

On the deployment partition (no resource `assigned`) the command decides Zeebe's `forceNew`
rule in this one apply: when every resource equals the latest version of what it defines and
all of those came in one earlier deployment, the call is a duplicate (each result
`duplicate: true`, that deployment's key). Otherwise it opens one deployment key and deploys
every resource with `forceNew`, so unchanged resources get a new version in this deployment
too and `bindingType="deployment"` finds them all (the same document twice in one call is
stored once). It then writes the copy for the other partitions — the same resources, each with
the keys and versions assigned here — as a pending relay in the same transaction
(zennode.engine.relay, target "others"): the partition's leader sends it until every other
partition applied it and the `ack_relay {kind: deployment}` deletes the row, so a copy is never
lost, even when the caller went away. A duplicate call stores no definition but writes the
copy again under the earlier deployment key (the stored keys and versions): a retry after an
unknown outcome waits for the copies like the first call, and sending the same call again
repairs a deployment that some partition lacks (a partition that has it answers duplicate).

With every resource `assigned` (a copy) each is stored with exactly those keys; a copy
applied twice is a duplicate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from zennode.engine import records
from zennode.engine.commands.deploy import assigned_of, deploy
from zennode.engine.commands.deploy import stored_deployments as bpmn_stored
from zennode.engine.commands.deploy_decisions import deploy_decisions
from zennode.engine.commands.deploy_decisions import stored_deployments as dmn_stored
from zennode.engine.commands.wire import (
    AckRelay,
    Deploy,
    DeployDecisions,
    DeployResources,
    to_wire,
)
from zennode.engine.context import Context
from zennode.engine.relay import OTHERS, make_relay, send
from zennode.engine.storage import KVRead
from zennode.errors import BadRequest, InvalidState


def deploy_resources(ctx: Context, cmd: DeployResources) -> dict[str, Any]:
    if cmd.is_copy:
        results = [_deploy_one(ctx, r) for r in cmd.resources]
        duplicate = all(r["duplicate"] for r in results)
        key = results[0]["deploymentKey"]
        return {"deploymentKey": key, "duplicate": duplicate, "resources": results}
    duplicate, earlier = _duplicate_of(ctx, cmd.resources)
    if duplicate:
        results = [_deploy_one(ctx, r) for r in cmd.resources]
        if earlier is not None:
            _send_copy(ctx, cmd.resources, results, earlier)
        return {"deploymentKey": earlier, "duplicate": True, "resources": results}
    deployment_key = ctx.next_key()
    results = [
        _deploy_one(ctx, dataclasses.replace(r, deployment_key=deployment_key, force_new=True))
        for r in cmd.resources
    ]
    _send_copy(ctx, cmd.resources, results, deployment_key)
    return {"deploymentKey": deployment_key, "duplicate": False, "resources": results}


def _send_copy(
    ctx: Context,
    resources: tuple[Deploy | DeployDecisions, ...],
    results: list[dict[str, Any]],
    deployment_key: int,
) -> None:
    """Write the deployment's copy for the other partitions as a pending relay: the resources,
    each with the keys and versions stored here."""
    copy = DeployResources(
        tuple(
            dataclasses.replace(r, assigned=assigned_of(result))
            for r, result in zip(resources, results, strict=True)
        )
    )
    ack = AckRelay(kind="deployment", deployment_key=deployment_key)
    relay = make_relay(to_wire(copy), to_wire(ack), to=OTHERS)
    send(ctx, records.DEPLOY_PENDING + records.u64(deployment_key), relay)


def _deploy_one(ctx: Context, resource: Deploy | DeployDecisions) -> dict[str, Any]:
    with _naming(resource):
        if isinstance(resource, Deploy):
            return deploy(ctx, resource)
        return deploy_decisions(ctx, resource)


@contextmanager
def _naming(resource: Deploy | DeployDecisions) -> Iterator[None]:
    """A refusal names the resource (it refuses the whole command)."""
    try:
        yield
    except (BadRequest, InvalidState) as exc:
        if not resource.resource_name:
            raise
        raise type(exc)(f"resource '{resource.resource_name}': {exc.message}") from exc


def _duplicate_of(
    ctx: Context, resources: tuple[Deploy | DeployDecisions, ...]
) -> tuple[bool, int | None]:
    """(True, its deployment key) when every resource equals the latest version of what it
    defines and those all came in one deployment; (False, None) otherwise."""
    found: set[int | None] = set()
    for resource in resources:
        with _naming(resource):
            if isinstance(resource, Deploy):
                stored = bpmn_stored(ctx, resource)
            else:
                stored = dmn_stored(ctx, resource)
        if stored is None:
            return False, None
        found |= stored
    if len(found) != 1:
        return False, None
    return True, found.pop()


def distributed(db: KVRead, deployment_key: int) -> bool:
    """True once every other partition applied the deployment's copy (the ack deleted its
    pending relay row), and for a deployment that had no copy to send."""
    if isinstance(deployment_key, bool) or not isinstance(deployment_key, int):
        raise BadRequest("deployment_key must be an integer")
    return db.get("subscriptions", records.DEPLOY_PENDING + records.u64(deployment_key)) is None
