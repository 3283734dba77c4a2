"""cancel_instance {processInstanceKey} -> {processInstanceKey, state: "terminated"}

Terminates every token: jobs become `terminated`, open incidents are resolved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zennode.engine import state
from zennode.engine.commands._instance import runner_for
from zennode.engine.context import Context
from zennode.errors import InvalidState

if TYPE_CHECKING:
    from zennode.engine.commands.wire import CancelInstance


def cancel_instance(ctx: Context, cmd: CancelInstance) -> dict[str, Any]:
    key = cmd.process_instance_key
    runner = runner_for(ctx, key)
    parent = runner.instance.get("parent")
    if parent:
        raise InvalidState(
            f"process instance {key} was called by instance {parent['processInstanceKey']}: "
            "cancel that one"
        )
    runner.terminate_instance()
    runner.save()
    return {"processInstanceKey": key, "state": state.INSTANCE_TERMINATED}
