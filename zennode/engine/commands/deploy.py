"""deploy {xml, resourceName?, assigned?: {bpmnProcessId: {key, version}}}

-> {processDefinitionKey, bpmnProcessId, version, duplicate, processes: [{processDefinitionKey,
bpmnProcessId, version}]} (the top-level fields describe the first process of the document).

Without `assigned` (the deployment partition) the key comes from this partition's counter and
the version is latest+1, unless the document is byte-identical to the latest version of that
process: then the existing key is returned with `duplicate: true`. With `assigned` (the other
partitions) exactly the given keys and versions are stored; a key already stored is a duplicate.
"""

from __future__ import annotations

import hashlib
from typing import Any

from zennode.engine import state
from zennode.engine.commands._fields import str_field
from zennode.engine.context import Context
from zennode.engine.model import Deployed
from zennode.engine.parser import parse_definitions
from zennode.errors import BadRequest, InvalidState


def deploy(ctx: Context, cmd: dict[str, Any]) -> dict[str, Any]:
    xml = cmd.get("xml")
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", errors="strict")
    if not isinstance(xml, str) or not xml:
        raise BadRequest("xml must be a non-empty string")
    resource_name = str_field(cmd, "resourceName", required=False) or ""
    data = xml.encode()
    definitions = parse_definitions(data)
    checksum = hashlib.sha256(data).hexdigest()
    assigned = cmd.get("assigned")
    if assigned is not None and not isinstance(assigned, dict):
        raise BadRequest("assigned must map bpmnProcessId to {key, version}")
    processes = []
    duplicates = []
    for process in definitions.processes:
        pid = process.bpmn_process_id
        if assigned is not None:
            key, version, duplicate = _assigned(ctx, assigned, pid, checksum)
        else:
            key, version, duplicate = _assign(ctx, pid, checksum)
        if not duplicate:
            record = {
                "processDefinitionKey": key,
                "bpmnProcessId": pid,
                "version": version,
                "name": process.name,
                "resourceName": resource_name,
                "checksum": checksum,
                "deployedAt": ctx.now_ms,
                "xml": xml,
            }
            state.put_definition(ctx, record)
            ctx.remember(Deployed(key, version, process))
        duplicates.append(duplicate)
        processes.append({"processDefinitionKey": key, "bpmnProcessId": pid, "version": version})
    first = processes[0]
    return {**first, "duplicate": all(duplicates), "processes": processes}


def _assign(ctx: Context, pid: str, checksum: str) -> tuple[int, int, bool]:
    latest_key = state.latest_definition_key(ctx.db, pid)
    if latest_key is None:
        return ctx.next_key(), 1, False
    latest = state.get_definition(ctx.db, latest_key)
    assert latest is not None, "latest index points to a missing definition"
    if latest["checksum"] == checksum:
        return latest_key, latest["version"], True
    return ctx.next_key(), latest["version"] + 1, False


def _assigned(
    ctx: Context, assigned: dict[str, Any], pid: str, checksum: str
) -> tuple[int, int, bool]:
    entry = assigned.get(pid)
    if not isinstance(entry, dict):
        raise BadRequest(f"no assigned key and version for process {pid}")
    key, version = entry.get("key"), entry.get("version")
    for name, value in (("key", key), ("version", version)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest(f"assigned {name} of {pid} must be a positive integer")
    existing = state.get_definition(ctx.db, key)
    if existing is not None:
        if existing["bpmnProcessId"] != pid or existing["checksum"] != checksum:
            raise InvalidState(f"definition key {key} is already used by other content")
        return key, existing["version"], True
    return key, version, False
