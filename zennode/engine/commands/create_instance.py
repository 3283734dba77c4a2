"""create_instance {processDefinitionKey? | bpmnProcessId? [+ version?], variables?,
historyTtlMs?, businessKey?, startInstructions?: [{elementId, variables?}]}

`bpmnProcessId` alone (or with version -1) starts the latest version. `historyTtlMs`: how long
the instance is kept once it ended (None: the partition default, see `engine/retention.py`).
`startInstructions` start the instance at those elements instead of the none start event
(see `engine/bpmn/modification.py`; an element that cannot be started at is a BadRequest
naming it).

-> {processInstanceKey, processDefinitionKey, bpmnProcessId, version}. The new instance runs
until every token waits (a job, an incident) or it ends, all inside this command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.bpmn.instances import start_instance
from zennode.engine.context import Context
from zennode.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from zennode.engine.commands.wire import CreateInstance


def create_instance(ctx: Context, cmd: CreateInstance) -> dict[str, Any]:
    variables = dict(cmd.variables)
    if cmd.process_definition_key is not None:
        definition_key = cmd.process_definition_key
        if not state.definition_exists(ctx.db, definition_key):
            raise NotFound(f"process definition {definition_key} not found")
    elif cmd.bpmn_process_id is not None:
        pid, version = cmd.bpmn_process_id, cmd.version
        if version is None or version == -1:  # -1: Zeebe's "latest"
            found = state.latest_definition_key(ctx.db, pid)
        else:
            found = state.definition_key_of_version(ctx.db, pid, version)
        if found is None:
            which = "" if version in (None, -1) else f" version {version}"
            raise NotFound(f"no process definition with bpmnProcessId '{pid}'{which}")
        definition_key = found
    else:  # decode refuses this already; a record built in code may still be empty
        raise BadRequest("give processDefinitionKey or bpmnProcessId")
    deployed = ctx.deployed(definition_key)
    if deployed.process.start is None and not cmd.start_instructions:
        raise BadRequest(
            f"process {deployed.process.bpmn_process_id} has no none start event "
            "(it starts by a timer or a message)"
        )
    runner = start_instance(
        ctx,
        definition_key,
        variables,
        deployed=deployed,
        history_ttl_ms=cmd.history_ttl_ms,
        business_key=cmd.business_key,
        start_instructions=cmd.start_instructions,
    )
    runner.save()
    return {
        "processInstanceKey": runner.key,
        "processDefinitionKey": definition_key,
        "bpmnProcessId": deployed.process.bpmn_process_id,
        "version": deployed.version,
    }
