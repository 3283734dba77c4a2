"""One module per command, all with the signature `(ctx, command) -> result dict`.

Each module's docstring documents the command's fields and its result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zennode.engine.commands.activate_jobs import activate_jobs
from zennode.engine.commands.cancel_instance import cancel_instance
from zennode.engine.commands.complete_job import complete_job
from zennode.engine.commands.create_instance import create_instance
from zennode.engine.commands.deploy import deploy
from zennode.engine.commands.fail_job import fail_job
from zennode.engine.commands.messages import (
    ack_relay,
    close_message_subscription,
    correlate_message,
    open_message_subscription,
    publish_message,
)
from zennode.engine.commands.release_jobs import release_jobs
from zennode.engine.commands.resolve_incident import resolve_incident
from zennode.engine.commands.set_variables import set_variables
from zennode.engine.commands.signals import broadcast_signal
from zennode.engine.commands.timeout_jobs import timeout_jobs
from zennode.engine.commands.trigger_timers import trigger_timers
from zennode.engine.commands.update_job import update_job_retries, update_job_timeout
from zennode.engine.context import Context

CommandFn = Callable[[Context, dict[str, Any]], dict[str, Any]]

COMMANDS: dict[str, CommandFn] = {
    "deploy": deploy,
    "create_instance": create_instance,
    "cancel_instance": cancel_instance,
    "complete_job": complete_job,
    "fail_job": fail_job,
    "resolve_incident": resolve_incident,
    "activate_jobs": activate_jobs,
    "timeout_jobs": timeout_jobs,
    "release_jobs": release_jobs,
    "throw_error": fail_job,  # Zeebe's ThrowError: fail_job with an errorCode
    "update_job_retries": update_job_retries,
    "update_job_timeout": update_job_timeout,
    "set_variables": set_variables,
    "trigger_timers": trigger_timers,
    "publish_message": publish_message,
    "open_message_subscription": open_message_subscription,
    "close_message_subscription": close_message_subscription,
    "correlate_message": correlate_message,
    "ack_relay": ack_relay,
    "broadcast_signal": broadcast_signal,
}
