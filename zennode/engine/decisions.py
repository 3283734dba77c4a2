"""Deployed DMN decisions: how they are stored, found by binding, and evaluated.

A DMN document (a decision requirements graph, DRG) is deployed like a BPMN document: the
deployment partition gives the document and each of its decisions a key and a version (versions
count per decision id and per DRG id), the other partitions store the same keys and versions,
so any partition can evaluate any decision. Evaluation is pure (`zennode.dmn`); the compiled
document is cached by content checksum, so a cache entry can never be stale.

Table "decisions":
    r key(8B)                        -> DRG record (with the document's XML)
    d key(8B)                        -> decision record
    v decisionId\\0 version(8B)       -> decision key
    l decisionId\\0                   -> latest decision key
    t decisionId\\0 versionTag\\0      -> latest decision key with that version tag
    g drgId\\0                        -> latest DRG key
    k deploymentKey(8B) decisionId\\0  -> the decision key deployed in that deployment
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from zennode import dmn
from zennode.engine import records
from zennode.engine.storage import KVRead, KVWrite
from zennode.errors import BadRequest, NotFound

TABLE = "decisions"
DRG = b"r"
DECISION = b"d"
BY_VERSION = b"v"
LATEST = b"l"
TAG = b"t"
LATEST_DRG = b"g"
IN_DEPLOYMENT = b"k"
COMPILED_CACHE_MAX = 256  # compiled DMN documents kept in memory (by checksum)

BINDING_LATEST = "latest"
BINDING_DEPLOYMENT = "deployment"
BINDING_VERSION_TAG = "versionTag"
BINDINGS = (BINDING_LATEST, BINDING_DEPLOYMENT, BINDING_VERSION_TAG)

_compiled: dict[str, dmn.DecisionDefinitions] = {}


# ---------------------------------------------------------------- storage


def _get(db: KVRead, row: bytes) -> dict[str, Any] | None:
    raw = db.get(TABLE, row)
    return records.loads(raw) if raw else None


def _key_at(db: KVRead, row: bytes) -> int | None:
    raw = db.get(TABLE, row)
    return records.from_u64(raw) if raw else None


def get_decision(db: KVRead, key: int) -> dict[str, Any] | None:
    return _get(db, DECISION + records.u64(key))


def get_drg(db: KVRead, key: int) -> dict[str, Any] | None:
    return _get(db, DRG + records.u64(key))


def latest_decision_key(db: KVRead, decision_id: str) -> int | None:
    return _key_at(db, LATEST + records.text(decision_id))


def latest_drg_key(db: KVRead, drg_id: str) -> int | None:
    return _key_at(db, LATEST_DRG + records.text(drg_id))


def decision_key_of_version(db: KVRead, decision_id: str, version: int) -> int | None:
    return _key_at(db, BY_VERSION + records.text(decision_id) + records.u64(version))


def decision_key_of_tag(db: KVRead, decision_id: str, version_tag: str) -> int | None:
    return _key_at(db, TAG + records.text(decision_id) + records.text(version_tag))


def decision_key_in_deployment(db: KVRead, deployment_key: int, decision_id: str) -> int | None:
    return _key_at(db, IN_DEPLOYMENT + records.u64(deployment_key) + records.text(decision_id))


def put_drg(db: KVWrite, record: dict[str, Any]) -> None:
    """Store a DRG version; it becomes the latest of its id unless a higher version is already
    stored (copies of two deployments can reach a partition in either order)."""
    key, drg_id = record["decisionRequirementsKey"], record["decisionRequirementsId"]
    db.put(TABLE, DRG + records.u64(key), records.dumps(record))
    latest_key = latest_drg_key(db, drg_id)
    latest = None if latest_key is None else get_drg(db, latest_key)
    if latest is None or record["version"] >= latest["version"]:
        db.put(TABLE, LATEST_DRG + records.text(drg_id), records.u64(key))


def put_decision(db: KVWrite, record: dict[str, Any]) -> None:
    """Store a decision version; it becomes the latest of its id (and of its version tag)
    unless a higher version is already stored."""
    key, decision_id, version = record["decisionKey"], record["decisionId"], record["version"]
    db.put(TABLE, DECISION + records.u64(key), records.dumps(record))
    db.put(TABLE, BY_VERSION + records.text(decision_id) + records.u64(version), records.u64(key))
    deployment_key = record.get("deploymentKey")
    if deployment_key is not None:
        row = IN_DEPLOYMENT + records.u64(deployment_key) + records.text(decision_id)
        db.put(TABLE, row, records.u64(key))
    latest = latest_decision_key(db, decision_id)
    latest_record = get_decision(db, latest) if latest is not None else None
    if latest_record is None or version >= latest_record["version"]:
        db.put(TABLE, LATEST + records.text(decision_id), records.u64(key))
    tag = record.get("versionTag")
    if tag:
        row = TAG + records.text(decision_id) + records.text(tag)
        tagged = _key_at(db, row)
        tagged_record = get_decision(db, tagged) if tagged is not None else None
        if tagged_record is None or version >= tagged_record["version"]:
            db.put(TABLE, row, records.u64(key))


def list_decisions(
    db: KVRead, decision_id: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Decisions ordered by decision id then version: (page, total count)."""
    prefix = BY_VERSION + (records.text(decision_id) if decision_id else b"")
    items: list[dict[str, Any]] = []
    total = 0
    for _, raw_key in db.scan(TABLE, prefix):
        if offset <= total < offset + limit:
            record = get_decision(db, records.from_u64(raw_key))
            if record is not None:
                items.append(record)
        total += 1
    return items, total


# ---------------------------------------------------------------- finding a decision


def resolve(
    db: KVRead,
    decision_id: str,
    binding: str = BINDING_LATEST,
    version_tag: str | None = None,
    deployment_key: int | None = None,
) -> dict[str, Any]:
    """The decision record a call binds to (NotFound names what is missing).

    - latest: the latest version of `decision_id`;
    - versionTag: the latest version carrying `version_tag`;
    - deployment: the version deployed in the same deployment as the calling process
      (`deployment_key`, the process definition's), as Zeebe does; none there is NotFound
      even when other deployments have that decision.
    """
    if binding == BINDING_VERSION_TAG:
        key = decision_key_of_tag(db, decision_id, version_tag or "")
        if key is None:
            raise NotFound(f"no decision '{decision_id}' with version tag '{version_tag}'")
        return _must(db, key)
    if binding == BINDING_DEPLOYMENT:
        found = (
            None
            if deployment_key is None
            else decision_key_in_deployment(db, deployment_key, decision_id)
        )
        if found is None:
            raise NotFound(
                f"no decision '{decision_id}' in the deployment of the calling process"
                f" (deployment {deployment_key}; bindingType 'deployment')"
            )
        return _must(db, found)
    key = latest_decision_key(db, decision_id)
    if key is None:
        raise NotFound(f"no decision '{decision_id}' is deployed")
    return _must(db, key)


def _must(db: KVRead, key: int) -> dict[str, Any]:
    record = get_decision(db, key)
    assert record is not None, f"decision index points to missing decision {key}"
    return record


# ---------------------------------------------------------------- evaluation


def compiled(db: KVRead, drg_key: int) -> dmn.DecisionDefinitions:
    """The compiled document of a DRG, parsed once per content."""
    drg = get_drg(db, drg_key)
    assert drg is not None, f"decision points to missing requirements {drg_key}"
    checksum = drg["checksum"]
    defs = _compiled.get(checksum)
    if defs is None:
        defs = dmn.parse_dmn(drg["xml"].encode())
        if len(_compiled) >= COMPILED_CACHE_MAX:
            _compiled.clear()
        _compiled[checksum] = defs
    return defs


def evaluate(
    db: KVRead, record: dict[str, Any], variables: dict[str, Any], now_ms: int
) -> dmn.DecisionResult:
    """Evaluate a deployed decision; raises `dmn.DecisionError` when it fails."""
    defs = compiled(db, record["decisionRequirementsKey"])
    now = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
    return dmn.evaluate(defs, record["decisionId"], variables, now=now)


def result_view(db: KVRead, record: dict[str, Any], result: dmn.DecisionResult) -> dict[str, Any]:
    """The evaluation result in the API shape: the decision called, its output and every
    evaluated decision with its key and version."""
    view = {**_header(record), "output": None, "evaluatedDecisions": []}
    body = result.to_json()
    view["output"] = body["output"]
    view["evaluatedDecisions"] = [_with_keys(db, record, e) for e in body["evaluatedDecisions"]]
    return view


def failure_view(db: KVRead, record: dict[str, Any], error: dmn.DecisionError) -> dict[str, Any]:
    return {
        **_header(record),
        "output": None,
        "failedDecisionId": error.decision_id,
        "failureMessage": f"decision '{error.decision_id}': {error}",
        "evaluatedDecisions": [_with_keys(db, record, e.to_json()) for e in error.evaluated],
    }


def _header(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "decisionKey": record["decisionKey"],
        "decisionId": record["decisionId"],
        "decisionName": record["decisionName"],
        "decisionVersion": record["version"],
        "decisionRequirementsKey": record["decisionRequirementsKey"],
        "decisionRequirementsId": record["decisionRequirementsId"],
    }


def _with_keys(db: KVRead, called: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
    """An evaluated decision of the same document, with its deployed key and version."""
    drg = get_drg(db, called["decisionRequirementsKey"])
    keys = (drg or {}).get("decisionKeys", {})
    entry = keys.get(evaluated["decisionId"])
    out = dict(evaluated)
    if entry is not None:
        out["decisionKey"], out["decisionVersion"] = entry
    return out


def check_binding(binding: str) -> None:
    if binding not in BINDINGS:
        raise BadRequest(f"bindingType must be one of {', '.join(BINDINGS)}, not '{binding}'")
