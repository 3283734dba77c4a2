"""set_variables {processInstanceKey | elementInstanceKey, variables} -> {processInstanceKey}

Merges `variables` into the instance's variables (one scope per instance, see
`engine/variables.py`). `elementInstanceKey` (Zeebe's SetVariables) may be the process instance
key or the key of one of its waiting element instances. Nothing moves: no token waits on
variables yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.commands._instance import runner_for
from zennode.engine.context import Context
from zennode.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from zennode.engine.commands.wire import SetVariables


def set_variables(ctx: Context, cmd: SetVariables) -> dict[str, Any]:
    if cmd.process_instance_key is not None:
        key = cmd.process_instance_key
    elif cmd.element_instance_key is not None:
        key = _instance_of(ctx, cmd.element_instance_key)
    else:  # decode refuses this already; a record built in code may still be empty
        raise BadRequest("give processInstanceKey or elementInstanceKey")
    runner = runner_for(ctx, key)
    runner.variables.update(cmd.variables)
    runner.save()
    return {"processInstanceKey": key}


def _instance_of(ctx: Context, element_instance_key: int) -> int:
    if state.get_instance(ctx.db, element_instance_key) is not None:
        return element_instance_key
    found = state.instance_of_element(ctx.db, element_instance_key)
    if found is None:
        raise NotFound(f"element instance {element_instance_key} not found")
    return found
