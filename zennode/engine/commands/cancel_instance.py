"""cancel_instance {processInstanceKey} -> {processInstanceKey, state: "terminated"}

Terminates every token: jobs become `terminated`, open incidents are resolved.
"""

from __future__ import annotations

from typing import Any

from zennode.engine import state
from zennode.engine.commands._fields import int_field
from zennode.engine.commands._instance import runner_for
from zennode.engine.context import Context


def cancel_instance(ctx: Context, cmd: dict[str, Any]) -> dict[str, Any]:
    key = int_field(cmd, "processInstanceKey", minimum=1)
    runner = runner_for(ctx, key)
    runner.terminate_within(key)
    runner.instance["state"] = state.INSTANCE_TERMINATED
    runner.instance["endedAt"] = ctx.now_ms
    runner.save()
    ctx.emit(
        "instance_terminated",
        processInstanceKey=key,
        processDefinitionKey=runner.instance["processDefinitionKey"],
        bpmnProcessId=runner.instance["bpmnProcessId"],
    )
    return {"processInstanceKey": key, "state": state.INSTANCE_TERMINATED}
