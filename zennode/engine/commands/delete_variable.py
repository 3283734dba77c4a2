"""delete_variable {processInstanceKey, name, elementInstanceKey?} -> {processInstanceKey}

Deletes a variable of an active instance (ZenBPM's `DELETE .../variables/{name}`). Without
`elementInstanceKey` from the process scope; with it (one of the instance's element
instances), from the nearest scope outwards from there that has the variable, which is the
variable that element instance sees (`scopes.delete`). NotFound when no such scope has it,
when the instance or the element instance is unknown; InvalidState when the instance ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import scopes
from zennode.engine.commands._instance import runner_for
from zennode.engine.context import Context
from zennode.errors import NotFound

if TYPE_CHECKING:
    from zennode.engine.commands.wire import DeleteVariable


def delete_variable(ctx: Context, cmd: DeleteVariable) -> dict[str, Any]:
    key = cmd.process_instance_key
    runner = runner_for(ctx, key)
    scope = key if cmd.element_instance_key is None else cmd.element_instance_key
    if scope != key and str(scope) not in runner.elements:
        raise NotFound(f"element instance {scope} not found in process instance {key}")
    if not scopes.delete(runner.instance, scope, cmd.name):
        where = "process instance" if scope == key else "element instance"
        raise NotFound(f"variable '{cmd.name}' not found in {where} {scope}")
    runner.save()
    return {"processInstanceKey": key}
