"""set_variables {processInstanceKey | elementInstanceKey, variables, local?}
-> {processInstanceKey}

`elementInstanceKey` (Zeebe's SetVariables) may be the process instance key or the key of one
of its element instances (a waiting task, a sub-process, a multi-instance body or iteration):
that is the scope (given both keys, the element instance must belong to that instance).
Without `local` the variables propagate from that scope outwards (each one updates the nearest
scope that has it, else the process scope); with `local` they are set in that scope itself.
Nothing moves: no token waits on variables yet.
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
    if cmd.element_instance_key is not None:
        scope = cmd.element_instance_key
        key = cmd.process_instance_key or _instance_of(ctx, scope)
    elif cmd.process_instance_key is not None:
        key = scope = cmd.process_instance_key
    else:  # decode refuses this already; a record built in code may still be empty
        raise BadRequest("give processInstanceKey or elementInstanceKey")
    runner = runner_for(ctx, key)
    if scope != key and str(scope) not in runner.elements:
        raise NotFound(f"element instance {scope} not found")
    if cmd.local:
        runner.set_locals(scope, dict(cmd.variables))
    else:
        runner.merge(scope, dict(cmd.variables))
    runner.save()
    return {"processInstanceKey": key}


def _instance_of(ctx: Context, element_instance_key: int) -> int:
    if state.get_instance(ctx.db, element_instance_key) is not None:
        return element_instance_key
    found = state.instance_of_element(ctx.db, element_instance_key)
    if found is None:
        raise NotFound(f"element instance {element_instance_key} not found")
    return found
