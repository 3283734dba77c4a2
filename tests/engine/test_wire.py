"""Command records and their wire form (`zennode/engine/commands/wire.py`): every record
round-trips, the wire names are the ones logs already hold, and a malformed field is a
BadRequest from `from_wire`, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from zennode.engine.commands import (
    COMMANDS,
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
from zennode.engine.commands.wire import RECORDS
from zennode.errors import BadRequest

SAMPLES: list[Command] = [
    Deploy(xml="<x/>", resource_name="a.bpmn", assigned={"p": {"key": 5, "version": 2}}),
    DeployDecisions(
        xml="<x/>",
        resource_name="a.dmn",
        assigned={"requirements": {"key": 6, "version": 1}, "decisions": {"d": {"key": 7}}},
    ),
    DeployResources((Deploy(xml="<x/>", resource_name="a.bpmn"), DeployDecisions(xml="<y/>"))),
    DeployResources(
        (Deploy(xml="<x/>", assigned={"p": {"key": 5, "version": 2, "deploymentKey": 4}}),)
    ),
    CreateInstance(process_definition_key=7, variables={"a": 1}),
    CreateInstance(bpmn_process_id="p", version=-1),
    CreateInstance(bpmn_process_id="p", history_ttl_ms=86_400_000),
    CreateInstance(bpmn_process_id="p", start_instructions=[{"elementId": "task"}]),
    ModifyInstance(process_instance_key=10, variables={"a": 1}),
    ModifyInstance(
        process_instance_key=10,
        activate=[
            {"elementId": "task"},
            {
                "elementId": "inner",
                "ancestorElementInstanceKey": 12,
                "variables": [{"variables": {"x": 1}}, {"scopeId": "", "variables": {}}],
            },
        ],
        terminate=[11, 13],
    ),
    CancelInstance(process_instance_key=9),
    SetVariables(element_instance_key=11, variables={"b": [1, 2]}),
    SetVariables(process_instance_key=10, element_instance_key=11, variables={}, local=True),
    CompleteJob(job_key=3, variables={"ok": True}, worker="w#1"),
    FailJob(job_key=3, retries=2, message="boom", retry_backoff_ms=100, worker="w"),
    ThrowError(job_key=3, error_code="E1", message="m", variables={"x": 1}),
    UpdateJobRetries(job_key=3, retries=4),
    UpdateJobTimeout(job_key=3, timeout_ms=500),
    AssignJob(job_key=3, assignee="john"),
    DeleteVariable(process_instance_key=10, name="x", element_instance_key=11),
    ActivateJobs(job_type="t", worker="w", timeout_ms=1000, max_jobs=5, job_keys=[1, 2]),
    TimeoutJobs(),
    ReleaseJobs(worker="w"),
    ReleaseJobs(job_keys=[4, 5], worker="w"),
    ResolveIncident(incident_key=12),
    TriggerTimers(limit=10),
    PurgeHistory(default_ttl_ms=0, limit=50),
    PurgeHistory(),
    BackfillSearch(limit=7),
    BackfillSearch(),
    PublishMessage(message_name="m", correlation_key="k", time_to_live=10, message_id="id"),
    OpenMessageSubscription(
        sub_key=1,
        partition_id=2,
        process_instance_key=3,
        bpmn_process_id="p",
        element_id="e",
        message_name="m",
        correlation_key="k",
        repeat=True,
    ),
    CloseMessageSubscription(sub_key=1),
    CorrelateMessage(
        sub_key=1, process_instance_key=3, message_key=4, message_name="m", variables={}
    ),
    AckRelay(kind="delivery", sub_key=1, message_key=4),
    AckRelay(kind="signal", signal_key=8),
    AckRelay(kind="deployment", deployment_key=9),
    BroadcastSignal(signal_name="s", variables={"v": 1}, signal_key=6),
]


def test_every_command_has_a_record_a_handler_and_a_sample() -> None:
    assert set(RECORDS.values()) == set(COMMANDS)
    assert {type(s) for s in SAMPLES} == set(RECORDS.values())


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_records_round_trip_through_the_wire_form(record: Command) -> None:
    wire = to_wire(record)
    assert wire["type"] == record.TYPE
    assert from_wire(wire) == record
    assert from_wire({**wire, "now_ms": 5, "fieldOfANewerVersion": 1}) == record


def test_wire_names_are_the_camel_case_of_the_fields_and_nones_are_left_out() -> None:
    wire = to_wire(FailJob(job_key=3, retry_backoff_ms=20))
    assert wire == {
        "type": "fail_job",
        "jobKey": 3,
        "message": "",
        "variables": {},
        "retryBackoffMs": 20,
    }
    create = to_wire(CreateInstance(bpmn_process_id="p", version=2, variables={"a": 1}))
    assert create == {
        "type": "create_instance",
        "bpmnProcessId": "p",
        "version": 2,
        "variables": {"a": 1},
    }


def test_relay_commands_keep_the_key_order_stored_in_pending_rows() -> None:
    """Pending relays are stored in state (part of the digest): the order must not change."""
    command = CorrelateMessage(
        sub_key=1, process_instance_key=3, message_key=4, message_name="m", variables={}
    )
    assert list(to_wire(command)) == [
        "type",
        "subKey",
        "processInstanceKey",
        "messageKey",
        "messageName",
        "variables",
    ]
    ack = AckRelay(kind="delivery", sub_key=1, message_key=4)
    assert list(to_wire(ack)) == ["type", "kind", "subKey", "messageKey"]


def test_dicts_written_by_earlier_versions_decode() -> None:
    """The node used to send explicit Nones; logs may hold them."""
    old = {
        "type": "fail_job",
        "jobKey": 3,
        "retries": None,
        "errorCode": None,
        "message": "",
        "variables": {},
    }
    assert from_wire(old) == FailJob(job_key=3)
    old_create = {
        "type": "create_instance",
        "processDefinitionKey": None,
        "bpmnProcessId": "p",
        "variables": {},
    }
    assert from_wire(old_create) == CreateInstance(bpmn_process_id="p")


@pytest.mark.parametrize(
    "wire",
    [
        None,
        [],
        {"type": "no_such_command"},
        {"type": "complete_job"},
        {"type": "complete_job", "jobKey": True},
        {"type": "complete_job", "jobKey": 1, "worker": 5},
        {"type": "complete_job", "jobKey": 1, "variables": [1]},
        {"type": "activate_jobs", "jobType": "", "worker": "w", "timeoutMs": 1, "maxJobs": 1},
        {"type": "activate_jobs", "jobType": "t", "worker": "w", "timeoutMs": 0, "maxJobs": 1},
        {"type": "release_jobs"},
        {"type": "create_instance"},
        {"type": "create_instance", "bpmnProcessId": "p", "version": "x"},
        {"type": "publish_message", "messageName": "m", "timeToLive": 10**15},
        {"type": "publish_message", "messageName": "m\0"},
        {"type": "ack_relay", "kind": "other", "subKey": 1},
        {"type": "deploy", "xml": ""},
        {"type": "deploy", "xml": "<x/>", "assigned": []},
        {"type": "deploy_resources", "resources": []},
        {"type": "deploy_resources", "resources": [{"type": "deploy", "xml": "<x/>"}] * 101},
        {"type": "deploy_resources", "resources": [{"type": "create_instance"}]},
        {
            "type": "deploy_resources",
            "resources": [{"type": "deploy", "xml": "<x/>", "forceNew": True}],
        },
        {
            "type": "deploy_resources",
            "resources": [{"type": "deploy", "xml": "<x/>", "deploymentKey": 3}],
        },
        {
            "type": "deploy_resources",
            "resources": [
                {"type": "deploy", "xml": "<x/>"},
                {"type": "deploy", "xml": "<x/>", "assigned": {"p": {"key": 1, "version": 1}}},
            ],
        },
        {"type": "ack_relay", "kind": "deployment"},
        {"type": "set_variables", "processInstanceKey": 1, "local": "yes"},
        {"type": "set_variables", "local": True},
    ],
)
def test_malformed_commands_are_bad_requests(wire: Any) -> None:
    with pytest.raises(BadRequest):
        from_wire(wire)
