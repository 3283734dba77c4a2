"""set_variables {processInstanceKey | elementInstanceKey, variables} -> {processInstanceKey}

Merges `variables` into the instance's variables (one scope per instance, see
`engine/variables.py`). `elementInstanceKey` (Zeebe's SetVariables) may be the process instance
key or the key of one of its waiting element instances. Nothing moves: no token waits on
variables yet.
"""

from __future__ import annotations

from typing import Any

from zennode.engine import state
from zennode.engine.commands._fields import int_field
from zennode.engine.commands._instance import runner_for
from zennode.engine.context import Context
from zennode.engine.variables import check_variables
from zennode.errors import BadRequest, NotFound


def set_variables(ctx: Context, cmd: dict[str, Any]) -> dict[str, Any]:
    variables = check_variables(cmd.get("variables"))
    if cmd.get("processInstanceKey") is not None:
        key = int_field(cmd, "processInstanceKey", minimum=1)
    elif cmd.get("elementInstanceKey") is not None:
        key = _instance_of(ctx, int_field(cmd, "elementInstanceKey", minimum=1))
    else:
        raise BadRequest("give processInstanceKey or elementInstanceKey")
    runner = runner_for(ctx, key)
    runner.variables.update(variables)
    runner.save()
    return {"processInstanceKey": key}


def _instance_of(ctx: Context, element_instance_key: int) -> int:
    if state.get_instance(ctx.db, element_instance_key) is not None:
        return element_instance_key
    found = state.instance_of_element(ctx.db, element_instance_key)
    if found is None:
        raise NotFound(f"element instance {element_instance_key} not found")
    return found
