"""modify_instance {processInstanceKey, variables?, activate?: [{elementId,
ancestorElementInstanceKey?, variables?: [{scopeId?, variables}]}], terminate?: [key]}
-> {processInstanceKey, state}

Zeebe's ModifyProcessInstance in one command (semantics in `engine/bpmn/modification.py`):
`variables` are set in the process scope, then the starts are placed, then the element
instances in `terminate` end (with their jobs, timers, message subscriptions and incidents),
then the tokens run. Every instruction is checked before anything changes: a refusal
(BadRequest naming the element or key, InvalidState when the instance is not active) leaves
the instance as it was. `state` is the instance's state afterwards (terminated when the last
token was terminated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.bpmn import modification
from zennode.engine.commands._instance import runner_for
from zennode.engine.context import Context
from zennode.errors import BadRequest

if TYPE_CHECKING:
    from zennode.engine.commands.wire import ModifyInstance


def modify_instance(ctx: Context, cmd: ModifyInstance) -> dict[str, Any]:
    key = cmd.process_instance_key
    runner = runner_for(ctx, key)
    starts = [modification.plan_start(runner, item) for item in cmd.activate or ()]
    terminate = list(dict.fromkeys(cmd.terminate or ()))
    for ei_key in terminate:
        if str(ei_key) not in runner.elements:
            raise BadRequest(
                f"cannot terminate element instance {ei_key}: it is not an active element "
                f"instance of process instance {key}"
            )
    needed = {k: s.element.id for s in starts for k in modification.reused_scopes(runner, s)}
    for ei_key in terminate:
        if ei_key in needed:
            raise BadRequest(
                f"cannot terminate element instance {ei_key}: starting '{needed[ei_key]}' "
                "needs it (give another ancestorElementInstanceKey or do not terminate it)"
            )
    if cmd.variables:
        runner.set_locals(key, dict(cmd.variables))
    for start in starts:
        modification.place_start(runner, start)
    for ei_key in terminate:
        modification.terminate(runner, ei_key)
    if runner.instance["state"] == state.INSTANCE_ACTIVE:
        runner.run()  # the new tokens move; an inclusive join may fire without a lost branch
    runner.save()
    return {"processInstanceKey": key, "state": runner.instance["state"]}
