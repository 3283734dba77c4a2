"""Starting a process instance: by a command, a timer or message start event, or a call activity."""

from __future__ import annotations

from typing import Any

from zennode.engine import state
from zennode.engine.bpmn.modification import place_start, plan_start
from zennode.engine.bpmn.runner import IO_MAPPING_ERROR, Runner
from zennode.engine.context import Context
from zennode.engine.expressions import ExpressionFailed
from zennode.engine.model import Deployed
from zennode.engine.retention import TTL_FIELD


def start_instance(
    ctx: Context,
    definition_key: int,
    variables: dict[str, Any],
    start_element: str | None = None,
    parent: dict[str, Any] | None = None,
    key: int | None = None,
    deployed: Deployed | None = None,
    history_ttl_ms: int | None = None,
    business_key: str | None = None,
    start_instructions: list[dict[str, Any]] | None = None,
) -> Runner:
    """Create the instance record and run it until every token waits (not saved yet).

    `start_element` None means the process's none start event; `parent` links a child of a
    call activity to it (`processInstanceKey`, `elementInstanceKey`, `depth`, `rootKey`);
    `history_ttl_ms` is how long the ended instance is kept (None: the partition default);
    `business_key` the caller's own key for it (searchable).
    `start_instructions` start the instance at those elements instead (Zeebe's start
    instructions, checked like a modification's starts: BadRequest naming the element).
    """
    deployed = deployed or ctx.deployed(definition_key)
    process = deployed.process
    key = key if key is not None else ctx.next_key()
    instance: dict[str, Any] = {
        "processInstanceKey": key,
        "processDefinitionKey": definition_key,
        "bpmnProcessId": process.bpmn_process_id,
        "version": deployed.version,
        "state": state.INSTANCE_ACTIVE,
        "createdAt": ctx.now_ms,
        "variables": variables,
        "elements": {},
        "joins": {},
        "incidents": 0,
    }
    if parent is not None:
        instance["parent"] = parent
    if history_ttl_ms is not None:
        instance[TTL_FIELD] = history_ttl_ms
    if business_key is not None:
        instance["businessKey"] = business_key
    ctx.emit(
        "instance_created",
        processInstanceKey=key,
        processDefinitionKey=definition_key,
        bpmnProcessId=process.bpmn_process_id,
    )
    runner = Runner(ctx, process, instance)
    starts = [plan_start(runner, item) for item in start_instructions or ()]
    start = start_element or process.start
    assert starts or start is not None, "callers check that the process has a none start event"
    if process.event_starts:
        try:
            waits = runner.prepare_waits(runner.event_sub_starts(process.event_starts), key)
            runner.open_waits(key, waits)
        except ExpressionFailed as exc:
            first = starts[0].element.id if starts else start
            assert first is not None
            runner.incident_at(process.elements[first], key, None, IO_MAPPING_ERROR, exc.message)
            runner.save()
            return runner
    if starts:
        for planned in starts:
            place_start(runner, planned)
    else:
        assert start is not None
        runner.enqueue(start, key, None)
    runner.run()
    return runner
