"""deploy_decisions {xml, resourceName?, assigned?: {requirements: {key, version,
deploymentKey}, decisions: {decisionId: {key, version}}}, deploymentKey?, forceNew?}

-> {decisionRequirementsKey, decisionRequirementsId, decisionRequirementsName, version,
resourceName, deploymentKey, duplicate, decisions: [{decisionKey, decisionId, decisionName,
version, versionTag, decisionRequirementsKey, decisionRequirementsId, deploymentKey}]}

Without `assigned` (the deployment partition) the document (DRG) and each decision get a key
from this partition's counter and the next version of their id, unless the document is
byte-identical to the latest version of its DRG id: then the stored keys come back with
`duplicate: true`, unless `forceNew`. The deployment key is given or opened as for processes
(deploy.py): the document and its decisions record it, and a business rule task with
`bindingType="deployment"` binds to the decision of its process's deployment. With `assigned`
(the other partitions) exactly those keys, versions and deployment key are stored; a DRG key
already stored with the same content is a duplicate.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from zennode import dmn
from zennode.engine import decisions as ds
from zennode.engine.commands.deploy import _forced, _positive, assigned_deployment_key
from zennode.engine.context import Context
from zennode.errors import BadRequest, InvalidState

if TYPE_CHECKING:
    from zennode.engine.commands.wire import DeployDecisions


def parse_deployable(data: bytes) -> tuple[dmn.DecisionDefinitions, str]:
    """The parsed DMN document and its requirements id, or BadRequest for anything a deploy
    refuses. The service calls it before anything is stored, so a deploy call of several
    resources with a bad one is refused before any of it is stored."""
    defs = dmn.parse_dmn(data)
    if not defs.decisions:
        raise BadRequest("the DMN document has no decision")
    drg_id = defs.id or defs.name
    if not drg_id:
        raise BadRequest("the DMN definitions need an id or a name")
    return defs, drg_id


def deploy_decisions(ctx: Context, cmd: DeployDecisions) -> dict[str, Any]:
    data = cmd.xml.encode()
    defs, drg_id = parse_deployable(data)
    found = defs.decisions
    checksum = hashlib.sha256(data).hexdigest()
    if cmd.assigned is None:
        deployment_key = cmd.deployment_key
        drg_key, drg_version, keys, duplicate = _assign(
            ctx, drg_id, checksum, found, cmd.force_new, deployment_key
        )
        if not duplicate and deployment_key is None:
            deployment_key = ctx.next_key()  # the first new resource opens the deployment
    else:
        drg_key, drg_version, keys, duplicate = _assigned(ctx, cmd.assigned, checksum, found)
        deployment_key = assigned_deployment_key(cmd.assigned["requirements"], drg_id)
    if duplicate:
        drg = ds.get_drg(ctx.db, drg_key)
        assert drg is not None
        return _result(ctx, drg, duplicate=True)
    drg = {
        "decisionRequirementsKey": drg_key,
        "decisionRequirementsId": drg_id,
        "decisionRequirementsName": defs.name or drg_id,
        "version": drg_version,
        "resourceName": cmd.resource_name,
        "checksum": checksum,
        "deployedAt": ctx.now_ms,
        "deploymentKey": deployment_key,
        "decisionKeys": keys,  # decisionId -> [key, version]
        "xml": cmd.xml,
    }
    ds.put_drg(ctx.db, drg)
    for decision in found:
        decision_id = decision.id or decision.name
        key, version = keys[decision_id]
        ds.put_decision(
            ctx.db,
            {
                "decisionKey": key,
                "decisionId": decision_id,
                "decisionName": decision.name or decision_id,
                "version": version,
                "versionTag": decision.version_tag,
                "decisionRequirementsKey": drg_key,
                "decisionRequirementsId": drg_id,
                "resourceName": cmd.resource_name,
                "deployedAt": ctx.now_ms,
                "deploymentKey": deployment_key,
            },
        )
    return _result(ctx, drg, duplicate=False)


def _result(ctx: Context, drg: dict[str, Any], duplicate: bool) -> dict[str, Any]:
    decisions = []
    for key, _version in drg["decisionKeys"].values():
        record = ds.get_decision(ctx.db, key)
        assert record is not None, f"requirements list a missing decision {key}"
        decisions.append({k: v for k, v in record.items() if k not in ("deployedAt",)})
    return {
        "decisionRequirementsKey": drg["decisionRequirementsKey"],
        "decisionRequirementsId": drg["decisionRequirementsId"],
        "decisionRequirementsName": drg["decisionRequirementsName"],
        "version": drg["version"],
        "resourceName": drg["resourceName"],
        "deploymentKey": drg.get("deploymentKey"),
        "duplicate": duplicate,
        "decisions": decisions,
    }


def stored_deployments(ctx: Context, cmd: DeployDecisions) -> set[int | None] | None:
    """As `deploy.stored_deployments` for a DMN document: {the deployment key of the latest
    version of its DRG} when the document equals it, None when it is new."""
    data = cmd.xml.encode()
    _defs, drg_id = parse_deployable(data)
    latest = ds.latest_drg_key(ctx.db, drg_id)
    drg = None if latest is None else ds.get_drg(ctx.db, latest)
    if drg is None or drg["checksum"] != hashlib.sha256(data).hexdigest():
        return None
    return {drg.get("deploymentKey")}


def _assign(
    ctx: Context,
    drg_id: str,
    checksum: str,
    found: list[Any],
    force_new: bool,
    deployment_key: int | None,
) -> tuple[int, int, dict[str, list[int]], bool]:
    latest = ds.latest_drg_key(ctx.db, drg_id)
    version = 1
    if latest is not None:
        drg = ds.get_drg(ctx.db, latest)
        assert drg is not None, "latest DRG index points to a missing DRG"
        if drg["checksum"] == checksum and not _forced(force_new, drg, deployment_key):
            return latest, drg["version"], drg["decisionKeys"], True
        version = drg["version"] + 1
    drg_key = ctx.next_key()
    keys: dict[str, list[int]] = {}
    for decision in found:
        decision_id = decision.id or decision.name
        previous = ds.latest_decision_key(ctx.db, decision_id)
        record = ds.get_decision(ctx.db, previous) if previous is not None else None
        keys[decision_id] = [ctx.next_key(), record["version"] + 1 if record else 1]
    return drg_key, version, keys, False


def _assigned(
    ctx: Context, assigned: dict[str, Any], checksum: str, found: list[Any]
) -> tuple[int, int, dict[str, list[int]], bool]:
    requirements = assigned.get("requirements")
    given = assigned.get("decisions")
    if not isinstance(requirements, dict) or not isinstance(given, dict):
        raise BadRequest("assigned needs requirements {key, version} and decisions")
    drg_key = _positive(requirements.get("key"), "assigned requirements key")
    drg_version = _positive(requirements.get("version"), "assigned requirements version")
    existing = ds.get_drg(ctx.db, drg_key)
    if existing is not None:
        if existing["checksum"] != checksum:
            raise InvalidState(f"decision requirements key {drg_key} is used by other content")
        return drg_key, existing["version"], existing["decisionKeys"], True
    keys: dict[str, list[int]] = {}
    for decision in found:
        decision_id = decision.id or decision.name
        entry = given.get(decision_id)
        if not isinstance(entry, dict):
            raise BadRequest(f"no assigned key and version for decision {decision_id}")
        keys[decision_id] = [
            _positive(entry.get("key"), f"assigned key of {decision_id}"),
            _positive(entry.get("version"), f"assigned version of {decision_id}"),
        ]
    return drg_key, drg_version, keys, False
