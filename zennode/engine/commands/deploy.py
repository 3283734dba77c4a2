"""deploy {xml, resourceName?, assigned?: {bpmnProcessId: {key, version, deploymentKey}},
deploymentKey?, forceNew?}

-> {processDefinitionKey, bpmnProcessId, version, deploymentKey, duplicate,
processes: [{processDefinitionKey, bpmnProcessId, version, deploymentKey}], warnings?: [text]}
(the top-level fields describe the first process of the document; `warnings` name what the
parser ignored, such as a flow without source and target).

Without `assigned` (the deployment partition) the key comes from this partition's counter and
the version is latest+1, unless the document is byte-identical to the latest version of that
process: then the existing key is returned with `duplicate: true` (and the deployment key it was
first deployed in), unless `forceNew`. The first new process of a deploy call takes a fresh
deployment key unless `deploymentKey` names the deployment (the call's earlier resources opened
it): every definition records the deployment it came in, which is what a call activity or a
business rule task with `bindingType="deployment"` binds to. With `assigned` (the other
partitions) exactly the given keys, versions and deployment keys are stored; a key already
stored is a duplicate.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from zennode.engine import records, state, timers
from zennode.engine.bpmn.waits import delete_timer
from zennode.engine.commands.trigger_timers import open_start_timer
from zennode.engine.context import Context
from zennode.engine.expressions import ExpressionFailed, evaluate
from zennode.engine.model import Deployed, Process
from zennode.engine.parser import parse_definitions
from zennode.errors import BadRequest, InvalidState

if TYPE_CHECKING:
    from zennode.engine.commands.wire import Deploy


def deploy(ctx: Context, cmd: Deploy) -> dict[str, Any]:
    xml, resource_name, assigned = cmd.xml, cmd.resource_name, cmd.assigned
    data = xml.encode()
    definitions = parse_definitions(data)
    checksum = hashlib.sha256(data).hexdigest()
    deployment_key = cmd.deployment_key
    processes = []
    duplicates = []
    # checked before any write. Timers are armed on the deployment partition only, so only it
    # evaluates them: a copy (`assigned`) must store what partition 1 stored, and a timer's
    # validity can depend on the time (a calendar duration, FEEL `now()`).
    if assigned is None:
        schedules = {
            p.bpmn_process_id: start_schedules(p, ctx.now_ms) for p in definitions.processes
        }
    else:
        schedules = {}
        for process in definitions.processes:
            check_start_names(process)
    for process in definitions.processes:
        pid = process.bpmn_process_id
        if assigned is not None:
            key, version, duplicate, deployment_key = _assigned(ctx, assigned, pid, checksum)
        else:
            key, version, duplicate = _assign(ctx, pid, checksum, cmd.force_new, deployment_key)
            if not duplicate and deployment_key is None:
                deployment_key = ctx.next_key()  # the first new resource opens the deployment
        if duplicate:
            stored = state.get_definition(ctx.db, key)
            assert stored is not None, "a duplicate names a missing definition"
            in_deployment = stored.get("deploymentKey")
        else:
            in_deployment = deployment_key
            previous = state.latest_definition_key(ctx.db, pid)
            record = {
                "processDefinitionKey": key,
                "bpmnProcessId": pid,
                "version": version,
                "name": process.name,
                "resourceName": resource_name,
                "checksum": checksum,
                "deployedAt": ctx.now_ms,
                "deploymentKey": deployment_key,
                "xml": xml,
            }
            state.put_definition(ctx, record)
            ctx.remember(Deployed(key, version, process))
            if state.latest_definition_key(ctx.db, pid) == key:
                timers_here = schedules[pid] if assigned is None else None
                _replace_start_events(ctx, process, key, previous, timers_here)
        duplicates.append(duplicate)
        processes.append(
            {
                "processDefinitionKey": key,
                "bpmnProcessId": pid,
                "version": version,
                "deploymentKey": in_deployment,
            }
        )
    first = processes[0]
    result = {**first, "duplicate": all(duplicates), "processes": processes}
    if not all(duplicates):
        result["deploymentKey"] = deployment_key  # the deployment this call opened or joined
    if definitions.warnings:
        result["warnings"] = list(definitions.warnings)
    return result


def start_schedules(process: Process, now_ms: int) -> dict[str, timers.Schedule]:
    """Each timer start event's schedule, after checking what a deploy refuses in start events
    beyond the parser: message and signal start events need a literal name (an index finds
    them by it), a timer's expression must give a valid timer without variables. Checked
    before anything is stored, here (at the command's time) and in `Engine.validate_deploy`
    (at the gateway's clock, moments earlier), so a deploy call of several resources is
    refused before any of it is stored."""
    check_start_names(process)
    schedules = {}
    for start_id in process.timer_starts:
        timer = process.elements[start_id].timer
        assert timer is not None
        try:
            schedules[start_id] = timers.schedule(timer.kind, evaluate(timer.value, {}), now_ms)
        except ExpressionFailed as exc:
            raise BadRequest(f"timer start event {start_id}: {exc.message}") from None
    return schedules


def check_start_names(process: Process) -> None:
    """Message and signal start events need a literal name (an index finds them by it)."""
    for start_id in process.message_starts:
        if _static_message_name(process, start_id) is None:
            raise BadRequest(f"message start event {start_id} needs a literal message name")
    for start_id in process.signal_starts:
        if _static_signal_name(process, start_id) is None:
            raise BadRequest(f"signal start event {start_id} needs a literal signal name")


def _replace_start_events(
    ctx: Context,
    process: Process,
    key: int,
    previous: int | None,
    timers_here: dict[str, timers.Schedule] | None,
) -> None:
    """The latest version's timer and message start events replace the previous version's.

    Timer start events are armed on the deployment partition only (so each fires once in the
    cluster: `timers_here` are their schedules there, None elsewhere); message start events
    listen on every partition (a message starts an instance on the partition that owns its
    correlation key). Names and schedules were checked by `start_schedules`.
    """
    pid = process.bpmn_process_id
    if previous is not None and previous != key:
        old = ctx.deployed(previous).process
        for start_id in old.message_starts:
            name = _static_message_name(old, start_id)
            if name is not None:
                ctx.db.delete("index", records.message_start_key(name, pid))
    for start_id in process.message_starts:
        name = _static_message_name(process, start_id)
        assert name is not None, "checked by start_schedules"
        ctx.db.put("index", records.message_start_key(name, pid), records.u64(key))
    if timers_here is None:
        return
    if previous is not None and previous != key:
        old = ctx.deployed(previous).process
        for start_id in old.signal_starts:
            name = _static_signal_name(old, start_id)
            if name is not None:
                ctx.db.delete("index", records.signal_start_key(name, pid))
    for start_id in process.signal_starts:
        name = _static_signal_name(process, start_id)
        assert name is not None, "checked by start_schedules"
        ctx.db.put("index", records.signal_start_key(name, pid), records.u64(key))
    prefix = records.TIMER_START_PREFIX + records.text(pid)
    for row, _ in list(ctx.db.scan("index", prefix)):
        delete_timer(ctx, records.from_u64(row[-8:]))
        ctx.db.delete("index", row)
    for start_id, schedule in timers_here.items():
        open_start_timer(ctx, pid, key, start_id, schedule)


def _static_signal_name(process: Process, start_id: str) -> str | None:
    signal = process.elements[start_id].signal
    if signal is None or signal.is_feel:
        return None
    return signal.source


def _static_message_name(process: Process, start_id: str) -> str | None:
    message = process.elements[start_id].message
    if message is None or message.name.is_feel:
        return None
    return message.name.source


def _assign(
    ctx: Context, pid: str, checksum: str, force_new: bool, deployment_key: int | None
) -> tuple[int, int, bool]:
    latest_key = state.latest_definition_key(ctx.db, pid)
    if latest_key is None:
        return ctx.next_key(), 1, False
    latest = state.get_definition(ctx.db, latest_key)
    assert latest is not None, "latest index points to a missing definition"
    if latest["checksum"] == checksum and not _forced(force_new, latest, deployment_key):
        return latest_key, latest["version"], True
    return ctx.next_key(), latest["version"] + 1, False


def _forced(force_new: bool, latest: dict[str, Any], deployment_key: int | None) -> bool:
    """`forceNew` makes a new version of unchanged content, except when the latest version is
    already in this deployment (the same document twice in one call is stored once)."""
    in_this = deployment_key is not None and latest.get("deploymentKey") == deployment_key
    return force_new and not in_this


def stored_deployments(ctx: Context, cmd: Deploy) -> set[int | None] | None:
    """The deployment keys of the latest versions of the document's processes when the
    document equals them all (deployed alone it would be a duplicate); None when anything in
    it is new. Reads only, so a deploy call can decide before storing anything."""
    data = cmd.xml.encode()
    checksum = hashlib.sha256(data).hexdigest()
    found: set[int | None] = set()
    for process in parse_definitions(data).processes:
        latest_key = state.latest_definition_key(ctx.db, process.bpmn_process_id)
        latest = None if latest_key is None else state.get_definition(ctx.db, latest_key)
        if latest is None or latest["checksum"] != checksum:
            return None
        found.add(latest.get("deploymentKey"))
    return found


def _assigned(
    ctx: Context, assigned: dict[str, Any], pid: str, checksum: str
) -> tuple[int, int, bool, int | None]:
    """(key, version, duplicate, deployment key) as partition 1 gave them."""
    entry = assigned.get(pid)
    if not isinstance(entry, dict):
        raise BadRequest(f"no assigned key and version for process {pid}")
    key = _positive(entry.get("key"), f"assigned key of {pid}")
    version = _positive(entry.get("version"), f"assigned version of {pid}")
    deployment_key = assigned_deployment_key(entry, pid)
    existing = state.get_definition(ctx.db, key)
    if existing is not None:
        if existing["bpmnProcessId"] != pid or existing["checksum"] != checksum:
            raise InvalidState(f"definition key {key} is already used by other content")
        return key, existing["version"], True, existing.get("deploymentKey")
    return key, version, False, deployment_key


def assigned_deployment_key(entry: dict[str, Any], what: str) -> int | None:
    """The deployment key partition 1 recorded (None for a definition deployed before zennode
    recorded deployments)."""
    value = entry.get("deploymentKey")
    return None if value is None else _positive(value, f"assigned deployment key of {what}")


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{what} must be a positive integer")
    return value


# ------------------------------------------------------------------ one deploy call, several
# resources: what `deploy_resources` (one command for the whole call) needs to know


def assigned_of(result: dict[str, Any]) -> dict[str, Any]:
    """The `assigned` field that makes another partition store exactly what partition 1
    stored for this result (keys, versions, deployment key)."""
    if "decisionRequirementsKey" in result:
        return {
            "requirements": {
                "key": result["decisionRequirementsKey"],
                "version": result["version"],
                "deploymentKey": result.get("deploymentKey"),
            },
            "decisions": {
                d["decisionId"]: {"key": d["decisionKey"], "version": d["version"]}
                for d in result["decisions"]
            },
        }
    return {
        p["bpmnProcessId"]: {
            "key": p["processDefinitionKey"],
            "version": p["version"],
            "deploymentKey": p.get("deploymentKey"),
        }
        for p in result["processes"]
    }
