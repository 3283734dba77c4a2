"""One module per command, each a handler `(ctx, record) -> result dict`; the records, their
wire form and the checks of their fields are in `wire.py`.

Each handler module's docstring documents its command's fields and result. Callers outside
the engine import the records from here: `from zennode.engine.commands import CompleteJob`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zennode.engine.commands.activate_jobs import activate_jobs
from zennode.engine.commands.assign_job import assign_job
from zennode.engine.commands.backfill_search import backfill_search
from zennode.engine.commands.cancel_instance import cancel_instance
from zennode.engine.commands.complete_job import complete_job
from zennode.engine.commands.create_instance import create_instance
from zennode.engine.commands.delete_variable import delete_variable
from zennode.engine.commands.deploy import deploy
from zennode.engine.commands.deploy_decisions import deploy_decisions
from zennode.engine.commands.deploy_resources import deploy_resources
from zennode.engine.commands.fail_job import fail_job
from zennode.engine.commands.messages import (
    ack_relay,
    close_message_subscription,
    correlate_message,
    open_message_subscription,
    publish_message,
)
from zennode.engine.commands.modify_instance import modify_instance
from zennode.engine.commands.purge_history import purge_history
from zennode.engine.commands.release_jobs import release_jobs
from zennode.engine.commands.resolve_incident import resolve_incident
from zennode.engine.commands.set_variables import set_variables
from zennode.engine.commands.signals import broadcast_signal
from zennode.engine.commands.timeout_jobs import timeout_jobs
from zennode.engine.commands.trigger_timers import trigger_timers
from zennode.engine.commands.update_job import update_job_retries, update_job_timeout
from zennode.engine.commands.wire import (
    AckRelay,
    ActivateJobs,
    AssignJob,
    BackfillSearch,
    BroadcastSignal,
    CancelInstance,
    CloseMessageSubscription,
    Command,
    CompleteJob,
    CorrelateMessage,
    CreateInstance,
    DeleteVariable,
    Deploy,
    DeployDecisions,
    DeployResources,
    FailJob,
    ModifyInstance,
    OpenMessageSubscription,
    PublishMessage,
    PurgeHistory,
    ReleaseJobs,
    ResolveIncident,
    SetVariables,
    ThrowError,
    TimeoutJobs,
    TriggerTimers,
    UpdateJobRetries,
    UpdateJobTimeout,
    from_wire,
    to_wire,
)
from zennode.engine.context import Context

CommandFn = Callable[[Context, Any], dict[str, Any]]

COMMANDS: dict[type[Command], CommandFn] = {
    Deploy: deploy,
    DeployDecisions: deploy_decisions,
    DeployResources: deploy_resources,
    CreateInstance: create_instance,
    CancelInstance: cancel_instance,
    ModifyInstance: modify_instance,
    CompleteJob: complete_job,
    FailJob: fail_job,
    ThrowError: fail_job,  # Zeebe's ThrowError: fail_job with an errorCode
    ResolveIncident: resolve_incident,
    ActivateJobs: activate_jobs,
    TimeoutJobs: timeout_jobs,
    ReleaseJobs: release_jobs,
    UpdateJobRetries: update_job_retries,
    UpdateJobTimeout: update_job_timeout,
    SetVariables: set_variables,
    DeleteVariable: delete_variable,
    AssignJob: assign_job,
    TriggerTimers: trigger_timers,
    PurgeHistory: purge_history,
    BackfillSearch: backfill_search,
    PublishMessage: publish_message,
    OpenMessageSubscription: open_message_subscription,
    CloseMessageSubscription: close_message_subscription,
    CorrelateMessage: correlate_message,
    AckRelay: ack_relay,
    BroadcastSignal: broadcast_signal,
}

__all__ = [
    "COMMANDS",
    "AckRelay",
    "ActivateJobs",
    "AssignJob",
    "BackfillSearch",
    "BroadcastSignal",
    "CancelInstance",
    "CloseMessageSubscription",
    "Command",
    "CompleteJob",
    "CorrelateMessage",
    "CreateInstance",
    "DeleteVariable",
    "Deploy",
    "DeployDecisions",
    "DeployResources",
    "FailJob",
    "ModifyInstance",
    "OpenMessageSubscription",
    "PublishMessage",
    "PurgeHistory",
    "ReleaseJobs",
    "ResolveIncident",
    "SetVariables",
    "ThrowError",
    "TimeoutJobs",
    "TriggerTimers",
    "UpdateJobRetries",
    "UpdateJobTimeout",
    "from_wire",
    "to_wire",
]
