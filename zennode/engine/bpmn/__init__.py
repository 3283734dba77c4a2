"""BPMN behaviour by element family; `ACTIVATE` picks what a token does at an element."""

from __future__ import annotations

from zennode.engine import model as m
from zennode.engine.bpmn import call_activity, catch, events, gateways, sub_process, tasks
from zennode.engine.bpmn.runner import ActivateFn

ACTIVATE: dict[str, ActivateFn] = {
    m.START: events.activate_start,
    m.END: events.activate_end,
    m.TERMINATE_END: events.activate_terminate_end,
    m.ERROR_END: events.activate_error_end,
    m.ERROR_BOUNDARY: events.activate_boundary,
    m.LINK_THROW: events.activate_link_throw,
    m.PASS: tasks.activate_pass,
    m.SCRIPT: tasks.activate_script,
    m.BUSINESS_RULE: tasks.activate_business_rule,
    m.JOB_TASK: tasks.activate_job_task,
    m.EXCLUSIVE: gateways.activate_exclusive,
    m.PARALLEL: gateways.activate_parallel,
    m.INCLUSIVE: gateways.activate_inclusive,
    m.SUB_PROCESS: sub_process.activate_sub_process,
    m.TIMER_CATCH: catch.activate_catch,
    m.MESSAGE_CATCH: catch.activate_catch,
    m.EVENT_GATEWAY: catch.activate_event_gateway,
    m.EVENT_BOUNDARY: events.activate_boundary,
    m.CALL_ACTIVITY: call_activity.activate_call_activity,
    m.SIGNAL_CATCH: catch.activate_catch,
    m.SIGNAL_THROW: events.activate_signal_throw,
    m.ESCALATION_THROW: events.activate_escalation_throw,
    m.ESCALATION_BOUNDARY: events.activate_boundary,
}
