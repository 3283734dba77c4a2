"""Typed access to the engine tables: records plus their secondary indexes, kept in step.

Commands and BPMN behaviour never build table keys themselves; they load and save records here,
so an index can never drift from its record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import records
from zennode.engine.storage import KVRead
from zennode.errors import NotFound

if TYPE_CHECKING:
    from zennode.engine.context import Context
    from zennode.engine.model import Deployed

# Job states (the REST API shows these names).
JOB_ACTIVE = "active"
JOB_ACTIVATED = "activated"
JOB_COMPLETED = "completed"
JOB_FAILED = "failed"
JOB_TERMINATED = "terminated"

# Instance states as stored; queries show an active instance with open incidents as "failed".
INSTANCE_ACTIVE = "active"
INSTANCE_COMPLETED = "completed"
INSTANCE_TERMINATED = "terminated"

INCIDENT_ACTIVE = "active"
INCIDENT_RESOLVED = "resolved"


# ---------------------------------------------------------------- definitions


def get_definition(db: KVRead, key: int) -> dict[str, Any] | None:
    raw = db.get("definitions", records.u64(key))
    return records.loads(raw) if raw else None


def definition_exists(db: KVRead, key: int) -> bool:
    return db.get("definitions", records.u64(key)) is not None


def definition_key_of_version(db: KVRead, bpmn_process_id: str, version: int) -> int | None:
    raw = db.get("definitions_by_id", records.definition_by_id_key(bpmn_process_id, version))
    return records.from_u64(raw) if raw else None


def latest_definition_key(db: KVRead, bpmn_process_id: str) -> int | None:
    raw = db.get("index", records.latest_key(bpmn_process_id))
    return records.from_u64(raw) if raw else None


def definition_key_in_deployment(
    db: KVRead, deployment_key: int, bpmn_process_id: str
) -> int | None:
    """The version of `bpmn_process_id` deployed in that deployment (`bindingType="deployment"`)."""
    raw = db.get("index", records.deployed_in_key(deployment_key, bpmn_process_id))
    return records.from_u64(raw) if raw else None


def put_definition(ctx: Context, record: dict[str, Any]) -> None:
    key = record["processDefinitionKey"]
    pid = record["bpmnProcessId"]
    ctx.db.put("definitions", records.u64(key), records.dumps(record))
    deployment_key = record.get("deploymentKey")
    if deployment_key is not None:
        ctx.db.put("index", records.deployed_in_key(deployment_key, pid), records.u64(key))
    ctx.db.put(
        "definitions_by_id",
        records.definition_by_id_key(pid, record["version"]),
        records.u64(key),
    )
    latest = latest_definition_key(ctx.db, pid)
    latest_version = 0
    if latest is not None:
        latest_record = get_definition(ctx.db, latest)
        latest_version = latest_record["version"] if latest_record else 0
    if record["version"] >= latest_version:
        ctx.db.put("index", records.latest_key(pid), records.u64(key))


def load_deployed(ctx: Context, key: int) -> Deployed:
    from zennode.engine.model import Deployed
    from zennode.engine.parser import parse_definitions

    record = get_definition(ctx.db, key)
    if record is None:
        raise NotFound(f"process definition {key} not found")
    for process in parse_definitions(record["xml"].encode()).processes:
        if process.bpmn_process_id == record["bpmnProcessId"]:
            return Deployed(key, record["version"], process)
    raise NotFound(f"process {record['bpmnProcessId']} missing from definition {key}")


# ---------------------------------------------------------------- instances


def get_instance(db: KVRead, key: int) -> dict[str, Any] | None:
    raw = db.get("instances", records.u64(key))
    return records.loads(raw) if raw else None


def instance_of_element(db: KVRead, element_instance_key: int) -> int | None:
    """The process instance a waiting element instance belongs to."""
    raw = db.get("index", records.element_instance_key(element_instance_key))
    return records.from_u64(raw) if raw else None


def put_instance(
    ctx: Context, instance: dict[str, Any], ended: dict[str, list[int]] | None = None
) -> None:
    """Save an instance with its search index entries and statistics (`engine/search/`);
    `ended`: element id -> [completed, terminated] element instances since the last save."""
    from zennode.engine import search

    search.record_instance(ctx, instance, ended)
    ctx.db.put("instances", records.u64(instance["processInstanceKey"]), records.dumps(instance))


# ---------------------------------------------------------------- jobs


def get_job(db: KVRead, key: int) -> dict[str, Any] | None:
    raw = db.get("jobs", records.u64(key))
    return records.loads(raw) if raw else None


def put_job(ctx: Context, job: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
    """Store a job and move its index entries from `previous` (its stored form) if given."""
    key = job["key"]
    db = ctx.db
    if previous is not None:
        if previous["state"] != job["state"]:
            db.delete("jobs_by_state", records.job_state_key(previous["state"], job["type"], key))
        old_deadline = previous.get("deadline")
        if old_deadline is not None and old_deadline != job.get("deadline"):
            db.delete("jobs_by_deadline", records.pair_key(old_deadline, key))
    if previous is None or previous["state"] != job["state"]:
        db.put("jobs_by_state", records.job_state_key(job["state"], job["type"], key), b"")
    if previous is None:
        db.put("jobs_by_instance", records.pair_key(job["processInstanceKey"], key), b"")
    old_assignee = previous.get("assignee") if previous is not None else None
    if old_assignee != job.get("assignee"):
        if old_assignee:
            db.delete("index", records.job_assignee_key(old_assignee, key))
        if job.get("assignee"):
            db.put("index", records.job_assignee_key(job["assignee"], key), b"")
    deadline = job.get("deadline")
    if deadline is not None and (previous is None or previous.get("deadline") != deadline):
        db.put("jobs_by_deadline", records.pair_key(deadline, key), b"")
    db.put("jobs", records.u64(key), records.dumps(job))


# ---------------------------------------------------------------- incidents


def get_incident(db: KVRead, key: int) -> dict[str, Any] | None:
    raw = db.get("incidents", records.u64(key))
    return records.loads(raw) if raw else None


def put_incident(ctx: Context, incident: dict[str, Any], new: bool) -> None:
    key = incident["key"]
    ctx.db.put("incidents", records.u64(key), records.dumps(incident))
    if new:
        ctx.db.put(
            "incidents_by_instance", records.pair_key(incident["processInstanceKey"], key), b""
        )
