"""The engine's commands as typed records, and the one place a record becomes a dict and back.

Callers (the service façade, the job manager, the drivers, the engine's own cross-partition
steps) build a record — `CompleteJob(job_key=k, variables=v)` — never a dict. A record travels
in its *wire form*, the dict `{"type": "complete_job", "jobKey": k, "variables": v}`: that is
what Raft batches carry (pickled), what the internal gRPC service forwards (JSON), and what
`Engine.apply` receives (with `now_ms` stamped in by the partition leader). The wire form is
the contract with logs already written, so it does not change: field `job_key` is wire name
`jobKey` (camelCase of the field name), and a field that is None is left out.

`to_wire(record)` and `from_wire(dict)` are the only translations. `from_wire` is also where
the engine checks a command's fields (types, bounds, names): input from the wire is untrusted
(a peer, a replayed log), so a malformed field is a `BadRequest`, never a crash, and the
command handlers in this package only see well-typed records and deal with state.

Adding a command: a record here (its `TYPE`, fields, `decode`), a handler module beside this
one `(ctx, record) -> result dict`, and one line in `COMMANDS` in `__init__.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, cast

from zennode.engine.bpmn.waits import correlation_text
from zennode.engine.commands._fields import (
    int_field,
    key_list,
    optional_int,
    required_str,
    str_field,
)
from zennode.engine.expressions import ExpressionFailed, name_problem
from zennode.engine.search import BUSINESS_KEY_CHARS_MAX
from zennode.engine.variables import check_variables
from zennode.errors import BadRequest

# Bounds checked when a command is decoded (the handlers rely on them).
JOBS_PER_ACTIVATION_MAX = 1000  # jobs one activate_jobs locks (and jobKeys it may name)
RELEASE_KEYS_MAX = 10_000  # jobKeys of one release_jobs
FAIL_MESSAGE_CHARS_MAX = 4096  # a fail_job message is cut to this
TTL_MS_MAX = 366 * 24 * 3600 * 1000  # a published message is buffered at most a year
TRIGGER_LIMIT_DEFAULT = 1000  # timers one trigger_timers fires when it names no limit
TRIGGER_LIMIT_MAX = 10_000
HISTORY_TTL_MS_MAX = 100 * 366 * 24 * 3600 * 1000  # an instance's history is kept at most 100 years
PURGE_LIMIT_DEFAULT = 100  # ended root instances one purge_history deletes (a bounded chunk)
PURGE_LIMIT_MAX = 1000
BACKFILL_LIMIT_DEFAULT = 200  # instances one backfill_search scans (~46 ms on LMDB, 2 cores)
BACKFILL_LIMIT_MAX = 10_000
ACK_KINDS = ("open", "close", "delivery", "signal", "deployment")
ASSIGNEE_CHARS_MAX = 255  # a job's assignee (it is part of an index key)
VARIABLE_NAME_CHARS_MAX = 1000  # the name delete_variable takes
MODIFY_INSTRUCTIONS_MAX = 1000  # start / terminate instructions of one modification
MODIFY_VARIABLE_SCOPES_MAX = 100  # variable instructions of one start instruction


@dataclass(frozen=True, slots=True)
class Command:
    """Base of every command record; `TYPE` is the wire form's `"type"`."""

    TYPE: ClassVar[str] = ""

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        """The record from its wire form; raises BadRequest for a malformed field."""
        raise NotImplementedError


# --------------------------------------------------------------------- deployments


@dataclass(frozen=True, slots=True)
class Deploy(Command):
    """Deploy a BPMN document. Partition 1 assigns keys and versions; the other partitions
    get the same document with `assigned` {bpmnProcessId: {key, version}} (see deploy.py)."""

    TYPE: ClassVar[str] = "deploy"
    xml: str
    resource_name: str = ""
    assigned: dict[str, Any] | None = None
    #: the deployment this resource belongs to (given for the second and later resources of
    #: one deploy call); without it partition 1 opens a new deployment when anything is new
    deployment_key: int | None = None
    #: a new version even when the content equals the latest version (a resource deployed
    #: together with changed ones, so the whole deployment shares one deployment key)
    force_new: bool = False

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        xml, resource_name, assigned, deployment_key, force_new = _deploy_fields(wire)
        if assigned is not None and not isinstance(assigned, dict):
            raise BadRequest("assigned must map bpmnProcessId to {key, version, deploymentKey}")
        return cls(xml, resource_name, assigned, deployment_key, force_new)


@dataclass(frozen=True, slots=True)
class DeployDecisions(Command):
    """Deploy a DMN document. Partition 1 assigns keys and versions; the other partitions get
    the same document with `assigned` {requirements: {key, version}, decisions: {decisionId:
    {key, version}}} (see deploy_decisions.py)."""

    TYPE: ClassVar[str] = "deploy_decisions"
    xml: str
    resource_name: str = ""
    assigned: dict[str, Any] | None = None
    deployment_key: int | None = None  # as for Deploy
    force_new: bool = False  # as for Deploy

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        xml, resource_name, assigned, deployment_key, force_new = _deploy_fields(wire)
        if assigned is not None and not isinstance(assigned, dict):
            raise BadRequest("assigned must be {requirements, decisions}")
        return cls(xml, resource_name, assigned, deployment_key, force_new)


def _deploy_fields(wire: dict[str, Any]) -> tuple[str, str, Any, int | None, bool]:
    """The fields Deploy and DeployDecisions share, checked."""
    xml = wire.get("xml")
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", errors="strict")
    if not isinstance(xml, str) or not xml:
        raise BadRequest("xml must be a non-empty string")
    resource_name = str_field(wire, "resourceName", required=False) or ""
    force_new = wire.get("forceNew", False)
    if not isinstance(force_new, bool):
        raise BadRequest("forceNew must be a boolean")
    deployment_key = optional_int(wire, "deploymentKey", minimum=1)
    return xml, resource_name, wire.get("assigned"), deployment_key, force_new


RESOURCES_PER_DEPLOYMENT_MAX = 100  # resources of one deploy_resources (the REST/gRPC call's limit)


@dataclass(frozen=True, slots=True)
class DeployResources(Command):
    """One deployment (Zeebe's: the resources of one deploy call) as one command, so it is
    stored all or nothing in one apply (see deploy_resources.py). The resources are `Deploy` /
    `DeployDecisions` records without `deployment_key` and `force_new` (the command decides
    them); a copy for another partition gives every resource its `assigned` keys.

    The standalone `Deploy` / `DeployDecisions` commands stay appliable for logs written before
    this command existed; the service sends only this one."""

    TYPE: ClassVar[str] = "deploy_resources"
    resources: tuple[Deploy | DeployDecisions, ...]

    @property
    def is_copy(self) -> bool:
        """A copy partition 1 relays (every resource `assigned`), not a new deployment."""
        return self.resources[0].assigned is not None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        items = wire.get("resources")
        if not isinstance(items, list) or not 1 <= len(items) <= RESOURCES_PER_DEPLOYMENT_MAX:
            raise BadRequest(
                f"resources must be a list of 1 to {RESOURCES_PER_DEPLOYMENT_MAX} deploy commands"
            )
        resources: list[Deploy | DeployDecisions] = []
        for item in items:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in (Deploy.TYPE, DeployDecisions.TYPE):
                raise BadRequest("each resource must be a deploy or deploy_decisions command")
            decoder = Deploy if kind == Deploy.TYPE else DeployDecisions
            resource: Deploy | DeployDecisions = decoder.decode(item)
            if resource.deployment_key is not None or resource.force_new:
                raise BadRequest(
                    "a resource of deploy_resources takes no deploymentKey or forceNew"
                )
            resources.append(resource)
        if len({r.assigned is None for r in resources}) > 1:
            raise BadRequest("either every resource is assigned (a copy) or none")
        return cls(tuple(resources))


# ----------------------------------------------------------------------- instances


@dataclass(frozen=True, slots=True)
class CreateInstance(Command):
    """Start an instance of a definition key, or of the latest (or a given) version of a
    process id (`version` -1 or None: the latest)."""

    TYPE: ClassVar[str] = "create_instance"
    process_definition_key: int | None = None
    bpmn_process_id: str | None = None
    version: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    history_ttl_ms: int | None = None  # None: the partition default (retention.history_ttl)
    business_key: str | None = None  # searchable (engine/search/), at most 256 characters
    # Start at these elements instead of the none start event (Zeebe's start instructions):
    # start instructions as `ModifyInstance.activate` has them, without an ancestor.
    start_instructions: list[dict[str, Any]] | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        variables = dict(check_variables(wire.get("variables")))
        ttl = _history_ttl(wire)
        business_key = _business_key(wire)
        starts = _start_instructions(wire, "startInstructions", ancestor=False)
        if wire.get("processDefinitionKey") is not None:
            key = int_field(wire, "processDefinitionKey", minimum=1)
            return cls(
                process_definition_key=key,
                variables=variables,
                history_ttl_ms=ttl,
                business_key=business_key,
                start_instructions=starts,
            )
        if wire.get("bpmnProcessId") is not None:
            pid = required_str(wire, "bpmnProcessId")
            version = wire.get("version")
            if version is not None and version != -1:  # -1: Zeebe's "latest"
                version = int_field(wire, "version", minimum=1)
            return cls(
                bpmn_process_id=pid,
                version=version,
                variables=variables,
                history_ttl_ms=ttl,
                business_key=business_key,
                start_instructions=starts,
            )
        raise BadRequest("give processDefinitionKey or bpmnProcessId")


def _business_key(wire: dict[str, Any]) -> str | None:
    value = wire.get("businessKey")
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        raise BadRequest("businessKey must be a non-empty text without NUL")
    if len(value) > BUSINESS_KEY_CHARS_MAX:
        raise BadRequest(
            f"businessKey is {len(value)} characters, the limit is {BUSINESS_KEY_CHARS_MAX}"
        )
    return value


def _history_ttl(wire: dict[str, Any]) -> int | None:
    ttl = optional_int(wire, "historyTtlMs")
    if ttl is not None and ttl > HISTORY_TTL_MS_MAX:
        raise BadRequest(f"historyTtlMs must be at most {HISTORY_TTL_MS_MAX}")
    return ttl


@dataclass(frozen=True, slots=True)
class CancelInstance(Command):
    TYPE: ClassVar[str] = "cancel_instance"
    process_instance_key: int

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(process_instance_key=int_field(wire, "processInstanceKey", minimum=1))


@dataclass(frozen=True, slots=True)
class ModifyInstance(Command):
    """Modify an active instance in one step (Zeebe's ModifyProcessInstance): set process
    variables, start tokens at elements, terminate element instances.

    `activate` items: {"elementId", "ancestorElementInstanceKey"?, "variables"?: [{"scopeId"?,
    "variables"}]}; `terminate`: element instance keys."""

    TYPE: ClassVar[str] = "modify_instance"
    process_instance_key: int
    variables: dict[str, Any] | None = None
    activate: list[dict[str, Any]] | None = None
    terminate: list[int] | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        key = int_field(wire, "processInstanceKey", minimum=1)
        variables = None
        if wire.get("variables") is not None:
            variables = dict(check_variables(wire["variables"])) or None
        return cls(
            process_instance_key=key,
            variables=variables,
            activate=_start_instructions(wire, "activate", ancestor=True),
            terminate=key_list(wire, "terminate", MODIFY_INSTRUCTIONS_MAX) or None,
        )


def _start_instructions(
    wire: dict[str, Any], name: str, *, ancestor: bool
) -> list[dict[str, Any]] | None:
    """Checked start instructions in their canonical wire form (None when there are none)."""
    items = wire.get(name)
    if items is None:
        return None
    if not isinstance(items, list) or len(items) > MODIFY_INSTRUCTIONS_MAX:
        raise BadRequest(f"{name} must be a list of at most {MODIFY_INSTRUCTIONS_MAX} items")
    found: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise BadRequest(f"{name} items must be objects with an elementId")
        clean: dict[str, Any] = {"elementId": required_str(item, "elementId")}
        if ancestor and item.get("ancestorElementInstanceKey") is not None:
            clean["ancestorElementInstanceKey"] = int_field(
                item, "ancestorElementInstanceKey", minimum=1
            )
        scoped = item.get("variables")
        if scoped is not None:
            if not isinstance(scoped, list) or len(scoped) > MODIFY_VARIABLE_SCOPES_MAX:
                raise BadRequest(
                    f"variables of a start instruction must be a list of at most "
                    f"{MODIFY_VARIABLE_SCOPES_MAX} {{scopeId, variables}} objects"
                )
            clean_scoped = []
            for entry in scoped:
                if not isinstance(entry, dict):
                    raise BadRequest("a variable instruction must be {scopeId, variables}")
                one: dict[str, Any] = {"variables": dict(check_variables(entry.get("variables")))}
                if entry.get("scopeId") is not None:
                    one["scopeId"] = str_field(entry, "scopeId", required=False)
                clean_scoped.append(one)
            if clean_scoped:
                clean["variables"] = clean_scoped
        found.append(clean)
    return found or None


@dataclass(frozen=True, slots=True)
class SetVariables(Command):
    """Set variables in an instance, named by its key or (Zeebe) an element instance's: they
    propagate from that scope, or with `local` stay in it (Zeebe's SetVariables)."""

    TYPE: ClassVar[str] = "set_variables"
    process_instance_key: int | None = None
    element_instance_key: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    local: bool | None = None  # None (left out of the wire form) is False

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        variables = check_variables(wire.get("variables"))
        local = wire.get("local")
        if local is not None and not isinstance(local, bool):
            raise BadRequest("local must be a boolean")
        local = local or None
        instance = element = None
        if wire.get("processInstanceKey") is not None:
            instance = int_field(wire, "processInstanceKey", minimum=1)
        if wire.get("elementInstanceKey") is not None:
            element = int_field(wire, "elementInstanceKey", minimum=1)
        if instance is None and element is None:
            raise BadRequest("give processInstanceKey or elementInstanceKey")
        return cls(
            process_instance_key=instance,
            element_instance_key=element,
            variables=variables,
            local=local,
        )


@dataclass(frozen=True, slots=True)
class DeleteVariable(Command):
    """Delete variable `name` of an active instance: from the process scope, or, given
    `element_instance_key`, from the nearest scope outwards from that element instance
    that has it (the variable that element instance sees)."""

    TYPE: ClassVar[str] = "delete_variable"
    process_instance_key: int
    name: str
    element_instance_key: int | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        name = required_str(wire, "name")
        if len(name) > VARIABLE_NAME_CHARS_MAX:
            raise BadRequest(f"name must be at most {VARIABLE_NAME_CHARS_MAX} characters")
        return cls(
            process_instance_key=int_field(wire, "processInstanceKey", minimum=1),
            name=name,
            element_instance_key=optional_int(wire, "elementInstanceKey", minimum=1),
        )


# ---------------------------------------------------------------------------- jobs


def _job_key(wire: dict[str, Any]) -> int:
    value = wire.get("jobKey")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("jobKey must be an integer")
    return value


def _worker(wire: dict[str, Any]) -> str | None:
    value = wire.get("worker")
    if value is not None and not isinstance(value, str):
        raise BadRequest("worker must be a string")
    return value


@dataclass(frozen=True, slots=True)
class CompleteJob(Command):
    """With `worker`, an activated job must be locked by that worker."""

    TYPE: ClassVar[str] = "complete_job"
    job_key: int
    variables: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(
            job_key=_job_key(wire),
            worker=_worker(wire),
            variables=check_variables(wire.get("variables")),
        )


@dataclass(frozen=True, slots=True)
class FailJob(Command):
    """`error_code`: throw a BPMN error; otherwise retry (`retries`, default current - 1)
    after `retry_backoff_ms`, or raise an incident at 0 retries."""

    TYPE: ClassVar[str] = "fail_job"
    job_key: int
    retries: int | None = None
    error_code: str | None = None
    message: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    retry_backoff_ms: int | None = None
    worker: str | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        job_key = _job_key(wire)
        worker = _worker(wire)
        retries = optional_int(wire, "retries")
        backoff_ms = optional_int(wire, "retryBackoffMs")
        error_code = str_field(wire, "errorCode", required=False) or None
        message = str_field(wire, "message", required=False) or ""
        return cls(
            job_key=job_key,
            retries=retries,
            error_code=error_code,
            message=message[:FAIL_MESSAGE_CHARS_MAX],
            variables=check_variables(wire.get("variables")),
            retry_backoff_ms=backoff_ms,
            worker=worker,
        )


@dataclass(frozen=True, slots=True)
class ThrowError(FailJob):
    """Zeebe's ThrowError: a `FailJob` with an `error_code` (the same handler)."""

    TYPE: ClassVar[str] = "throw_error"


@dataclass(frozen=True, slots=True)
class UpdateJobRetries(Command):
    TYPE: ClassVar[str] = "update_job_retries"
    job_key: int
    retries: int

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(job_key=_job_key(wire), retries=int_field(wire, "retries", minimum=1))


@dataclass(frozen=True, slots=True)
class UpdateJobTimeout(Command):
    """A new lock deadline for an activated job: now + `timeout_ms`."""

    TYPE: ClassVar[str] = "update_job_timeout"
    job_key: int
    timeout_ms: int

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(job_key=_job_key(wire), timeout_ms=int_field(wire, "timeoutMs", minimum=1))


@dataclass(frozen=True, slots=True)
class AssignJob(Command):
    """Name the user a job is assigned to (ZenBPM's user tasks); it replaces any earlier one."""

    TYPE: ClassVar[str] = "assign_job"
    job_key: int
    assignee: str

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        assignee = required_str(wire, "assignee")
        if len(assignee) > ASSIGNEE_CHARS_MAX or "\0" in assignee:
            raise BadRequest(f"assignee must be 1 to {ASSIGNEE_CHARS_MAX} characters, no NUL")
        return cls(job_key=_job_key(wire), assignee=assignee)


@dataclass(frozen=True, slots=True)
class ActivateJobs(Command):
    """Lock up to `max_jobs` activatable jobs of `job_type` for `worker` for `timeout_ms`;
    with `job_keys`, only those."""

    TYPE: ClassVar[str] = "activate_jobs"
    job_type: str
    worker: str
    timeout_ms: int
    max_jobs: int
    job_keys: list[int] | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        job_type = required_str(wire, "jobType")
        worker = required_str(wire, "worker")
        timeout_ms = int_field(wire, "timeoutMs", minimum=1)
        max_jobs = min(int_field(wire, "maxJobs", minimum=1), JOBS_PER_ACTIVATION_MAX)
        job_keys = key_list(wire, "jobKeys", JOBS_PER_ACTIVATION_MAX)
        return cls(job_type, worker, timeout_ms, max_jobs, job_keys)


@dataclass(frozen=True, slots=True)
class TimeoutJobs(Command):
    """Free the activated jobs whose lock deadline has passed (bounded per command)."""

    TYPE: ClassVar[str] = "timeout_jobs"

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class ReleaseJobs(Command):
    """Unlock the jobs of `worker`, or the `job_keys` (only those locked by `worker` if given)."""

    TYPE: ClassVar[str] = "release_jobs"
    worker: str | None = None
    job_keys: list[int] | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        worker = str_field(wire, "worker", required=False)
        job_keys = key_list(wire, "jobKeys", RELEASE_KEYS_MAX)
        if worker is None and job_keys is None:
            raise BadRequest("give worker or jobKeys")
        return cls(worker=worker, job_keys=job_keys)


@dataclass(frozen=True, slots=True)
class ResolveIncident(Command):
    TYPE: ClassVar[str] = "resolve_incident"
    incident_key: int

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(incident_key=int_field(wire, "incidentKey", minimum=1))


# -------------------------------------------------------------------------- timers


def _limit(wire: dict[str, Any], default: int, maximum: int) -> int:
    """A bounded chunk's `limit`: at least 1, `default` when not given, cut to `maximum`."""
    return min(int_field(wire, "limit", minimum=1, default=default), maximum)


@dataclass(frozen=True, slots=True)
class TriggerTimers(Command):
    """Fire the timers due at the command's time (at most `limit`), expire old messages."""

    TYPE: ClassVar[str] = "trigger_timers"
    limit: int = TRIGGER_LIMIT_DEFAULT

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(limit=_limit(wire, TRIGGER_LIMIT_DEFAULT, TRIGGER_LIMIT_MAX))


@dataclass(frozen=True, slots=True)
class PurgeHistory(Command):
    """Delete ended root instances whose history time to live passed at the command's time
    (at most `limit`, earliest due first); `default_ttl_ms` is the partition default for
    instances created without their own (None: those are kept)."""

    TYPE: ClassVar[str] = "purge_history"
    default_ttl_ms: int | None = None
    limit: int = PURGE_LIMIT_DEFAULT

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        limit = _limit(wire, PURGE_LIMIT_DEFAULT, PURGE_LIMIT_MAX)
        default = optional_int(wire, "defaultTtlMs")
        if default is not None and default > HISTORY_TTL_MS_MAX:
            raise BadRequest(f"defaultTtlMs must be at most {HISTORY_TTL_MS_MAX}")
        return cls(default_ttl_ms=default, limit=limit)


@dataclass(frozen=True, slots=True)
class BackfillSearch(Command):
    """Write the search rows of instances saved before they existed (`search.backfill`): the
    next `limit` instances from the partition's cursor."""

    TYPE: ClassVar[str] = "backfill_search"
    limit: int = BACKFILL_LIMIT_DEFAULT

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(limit=_limit(wire, BACKFILL_LIMIT_DEFAULT, BACKFILL_LIMIT_MAX))


# ------------------------------------------------------------------------ messages


def _name(wire: dict[str, Any], name: str) -> str:
    value = required_str(wire, name)
    problem = name_problem(value, name)
    if problem:
        raise BadRequest(problem)
    return value


def _correlation_key(wire: dict[str, Any]) -> str:
    value = wire.get("correlationKey")
    if value is None:
        return ""
    try:
        return correlation_text(value, "correlationKey")
    except ExpressionFailed as exc:
        raise BadRequest(exc.message) from None


@dataclass(frozen=True, slots=True)
class PublishMessage(Command):
    """Sent to the partition that owns `correlation_key` (`engine.relay.message_partition`)."""

    TYPE: ClassVar[str] = "publish_message"
    message_name: str
    correlation_key: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    time_to_live: int = 0
    message_id: str | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        name = _name(wire, "messageName")
        correlation_key = _correlation_key(wire)
        variables = dict(check_variables(wire.get("variables")))
        ttl = int_field(wire, "timeToLive", minimum=0, default=0)
        if ttl > TTL_MS_MAX:
            raise BadRequest(f"timeToLive must be at most {TTL_MS_MAX} ms")
        message_id = None if wire.get("messageId") is None else _name(wire, "messageId")
        return cls(name, correlation_key, variables, ttl, message_id)


@dataclass(frozen=True, slots=True)
class OpenMessageSubscription(Command):
    """Relayed from an instance's partition to the message partition of its correlation key."""

    TYPE: ClassVar[str] = "open_message_subscription"
    sub_key: int
    partition_id: int
    process_instance_key: int
    bpmn_process_id: str
    element_id: str
    message_name: str
    correlation_key: str
    repeat: bool = False

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        sub_key = int_field(wire, "subKey", minimum=1)
        partition_id = int_field(wire, "partitionId", minimum=1)
        instance_key = int_field(wire, "processInstanceKey", minimum=1)
        bpmn_process_id = required_str(wire, "bpmnProcessId")
        element_id = required_str(wire, "elementId")
        return cls(
            sub_key=sub_key,
            partition_id=partition_id,
            process_instance_key=instance_key,
            bpmn_process_id=bpmn_process_id,
            element_id=element_id,
            message_name=_name(wire, "messageName"),
            correlation_key=_correlation_key(wire),
            repeat=bool(wire.get("repeat")),
        )


@dataclass(frozen=True, slots=True)
class CloseMessageSubscription(Command):
    TYPE: ClassVar[str] = "close_message_subscription"
    sub_key: int

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        return cls(sub_key=int_field(wire, "subKey", minimum=1))


@dataclass(frozen=True, slots=True)
class CorrelateMessage(Command):
    """Relayed from the message partition to the waiting instance's partition.
    `process_instance_key` and `message_name` are carried for readers; apply uses the rest."""

    TYPE: ClassVar[str] = "correlate_message"
    sub_key: int
    process_instance_key: int | None
    message_key: int
    message_name: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        sub_key = int_field(wire, "subKey", minimum=1)
        message_key = int_field(wire, "messageKey", minimum=1)
        variables = dict(check_variables(wire.get("variables")))
        instance_key = wire.get("processInstanceKey")
        name = wire.get("messageName")
        return cls(
            sub_key=sub_key,
            process_instance_key=instance_key if isinstance(instance_key, int) else None,
            message_key=message_key,
            message_name=name if isinstance(name, str) else None,
            variables=variables,
        )


@dataclass(frozen=True, slots=True)
class AckRelay(Command):
    """The other side applied a relayed command: delete its pending row. `kind` says which
    row: open/close (`sub_key`), delivery (`sub_key` + `message_key`), signal (`signal_key`),
    deployment (`deployment_key`: every other partition stored the deployment's copy)."""

    TYPE: ClassVar[str] = "ack_relay"
    kind: str
    sub_key: int | None = None
    message_key: int | None = None
    signal_key: int | None = None
    deployment_key: int | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        kind = wire.get("kind")
        if kind == "signal":
            return cls(kind="signal", signal_key=int_field(wire, "signalKey", minimum=1))
        if kind == "deployment":
            key = int_field(wire, "deploymentKey", minimum=1)
            return cls(kind="deployment", deployment_key=key)
        sub_key = int_field(wire, "subKey", minimum=1)
        if kind in ("open", "close"):
            return cls(kind=str(kind), sub_key=sub_key)
        if kind == "delivery":
            message_key = int_field(wire, "messageKey", minimum=1)
            return cls(kind="delivery", sub_key=sub_key, message_key=message_key)
        raise BadRequest("kind must be open, close, delivery, signal or deployment")


# ------------------------------------------------------------------------- signals


@dataclass(frozen=True, slots=True)
class BroadcastSignal(Command):
    """Applied on every partition; a copy carrying `signal_key` is applied once."""

    TYPE: ClassVar[str] = "broadcast_signal"
    signal_name: str
    variables: dict[str, Any] = field(default_factory=dict)
    signal_key: int | None = None

    @classmethod
    def decode(cls, wire: dict[str, Any]) -> Self:
        name = _name(wire, "signalName")
        variables = dict(check_variables(wire.get("variables")))
        return cls(name, variables, optional_int(wire, "signalKey", minimum=1))


# ------------------------------------------------------------------ the translation

RECORDS: dict[str, type[Command]] = {
    cls.TYPE: cls
    for cls in (
        Deploy,
        DeployDecisions,
        DeployResources,
        CreateInstance,
        CancelInstance,
        ModifyInstance,
        SetVariables,
        DeleteVariable,
        CompleteJob,
        FailJob,
        ThrowError,
        UpdateJobRetries,
        UpdateJobTimeout,
        AssignJob,
        ActivateJobs,
        TimeoutJobs,
        ReleaseJobs,
        ResolveIncident,
        TriggerTimers,
        PurgeHistory,
        BackfillSearch,
        PublishMessage,
        OpenMessageSubscription,
        CloseMessageSubscription,
        CorrelateMessage,
        AckRelay,
        BroadcastSignal,
    )
}

_ENCODERS: dict[type[Command], Callable[[Command], dict[str, Any]]] = {}


def _encode_deploy_resources(command: Command) -> dict[str, Any]:
    """The one record with records inside: each resource travels in its own wire form."""
    resources = cast(DeployResources, command).resources
    return {"type": DeployResources.TYPE, "resources": [to_wire(r) for r in resources]}


_ENCODERS[DeployResources] = _encode_deploy_resources


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _encoder(cls: type[Command]) -> Callable[[Command], dict[str, Any]]:
    """`to_wire` for one record class, generated once: a straight-line function is about
    twice as fast as a loop over the fields, and every command of the hot path goes through it."""
    lines = ["def encode(c):", f"    w = {{'type': {cls.TYPE!r}}}"]
    for f in dataclasses.fields(cls):
        lines += [f"    v = c.{f.name}", f"    if v is not None: w[{_camel(f.name)!r}] = v"]
    lines.append("    return w")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - code built from field names only
    encode: Callable[[Command], dict[str, Any]] = namespace["encode"]
    _ENCODERS[cls] = encode
    return encode


def to_wire(command: Command) -> dict[str, Any]:
    """The dict that travels: `{"type": TYPE, <camelCase field>: value, ...}`, Nones left out."""
    encode = _ENCODERS.get(type(command)) or _encoder(type(command))
    return encode(command)


def from_wire(wire: Any) -> Command:
    """The record a wire dict stands for; BadRequest when it is not a well-formed command.

    Unknown extra keys (`now_ms`, fields of newer versions) are ignored.
    """
    if not isinstance(wire, dict):
        raise BadRequest("a command must be an object")
    cls = RECORDS.get(wire.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise BadRequest(f"unknown command type {wire.get('type')!r}")
    return cls.decode(wire)
