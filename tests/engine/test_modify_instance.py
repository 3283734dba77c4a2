"""Process instance modification (`modify_instance`, start instructions of `create_instance`):
terminate element instances, start tokens at elements, both in one command, and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from support.bpmn import (
    boundary,
    bpmn,
    call_activity,
    chain,
    end,
    flow,
    gateway,
    message,
    message_catch,
    service,
    start,
    sub,
    timer_def,
)

from zennode.errors import BadRequest, InvalidState

from .helpers import Harness, Partitions

INNER = (
    start("s_in")
    + service("inner_a", "A")
    + service("inner_b", "B")
    + end("e_in")
    + chain("s_in", "inner_a", "inner_b", "e_in")
)
TIMER_ON_FIRST = boundary("late", "first", timer_def("duration", "PT1H"))
MODEL = bpmn(
    start()
    + service("first", "F")
    + TIMER_ON_FIRST
    + sub("sp", INNER)
    + service("last", "L")
    + end()
    + end("late_end")
    + chain("start", "first", "sp", "last", "end")
    + flow("f_late", "late", "late_end")
)


def element_key(h: Harness, key: int, element_id: str) -> int:
    found = [
        e["elementInstanceKey"]
        for e in h.instance(key)["activeElementInstances"]
        if e["elementId"] == element_id
    ]
    assert len(found) == 1, found
    return found[0]


def modify(h: Harness, key: int, **fields: Any) -> dict[str, Any]:
    return h.ok("modify_instance", processInstanceKey=key, **fields)


def refused(h: Harness, key: int, **fields: Any) -> Exception:
    before = h.snapshot()
    outcome = h.apply("modify_instance", processInstanceKey=key, **fields)
    assert outcome.error is not None
    assert h.snapshot() == before  # a refused modification changes nothing
    return outcome.error


def test_terminating_a_task_ends_its_job_and_timer_and_then_the_instance(h: Harness) -> None:
    key = h.start(MODEL)
    job = h.job(key, "first")
    assert len(h.store.tables["timers"]) == 1
    result = modify(h, key, terminate=[element_key(h, key, "first")])
    assert result == {"processInstanceKey": key, "state": "terminated"}
    assert h.instance(key)["activeElementInstances"] == []
    assert h.jobs(key)[0]["key"] == job["key"] and h.jobs(key)[0]["state"] == "terminated"
    assert len(h.store.tables["timers"]) == 0  # the boundary timer went with its task
    assert any(e["event"] == "instance_terminated" for e in h.events)


def test_moving_a_token_is_terminate_and_start_in_one_command(h: Harness) -> None:
    key = h.start(MODEL)
    first = element_key(h, key, "first")
    result = modify(h, key, terminate=[first], activate=[{"elementId": "last"}])
    assert result["state"] == "active"
    assert h.waiting_at(key) == ["last"]
    assert [j["elementId"] for j in h.active_jobs(key)] == ["last"]
    h.complete(key, "last")
    assert h.instance(key)["state"] == "completed"


def test_starting_inside_a_sub_process_creates_the_sub_process_instance(h: Harness) -> None:
    key = h.start(MODEL)
    modify(
        h,
        key,
        variables={"global": 1},
        activate=[{"elementId": "inner_b", "variables": [{"variables": {"inSp": True}}]}],
        terminate=[element_key(h, key, "first")],
    )
    assert h.waiting_at(key) == ["inner_b", "sp"]
    view = h.instance(key)
    sp = next(e for e in view["activeElementInstances"] if e["elementId"] == "sp")
    task = next(e for e in view["activeElementInstances"] if e["elementId"] == "inner_b")
    assert task["scopeKey"] == sp["elementInstanceKey"]
    assert sp["variables"] == {"inSp": True}  # the start's variables: local to its flow scope
    assert view["variables"] == {"global": 1}
    h.complete(key, "inner_b")  # the sub-process completes as usual and the token moves on
    assert h.waiting_at(key) == ["last"]


def test_a_second_start_in_an_existing_sub_process_reuses_it(h: Harness) -> None:
    key = h.start(MODEL)
    h.complete(key, "first")
    sp = element_key(h, key, "sp")
    modify(h, key, activate=[{"elementId": "inner_b"}])
    tasks = [e for e in h.instance(key)["activeElementInstances"] if e["scopeKey"] == sp]
    assert sorted(e["elementId"] for e in tasks) == ["inner_a", "inner_b"]
    # With the sub-process as ancestor it is used as is; with the process instance a new one.
    modify(h, key, activate=[{"elementId": "inner_a", "ancestorElementInstanceKey": key}])
    assert h.waiting_at(key).count("sp") == 2
    error = refused(h, key, activate=[{"elementId": "inner_a"}])
    assert isinstance(error, BadRequest) and "ancestorElementInstanceKey" in error.message


def test_terminating_the_last_token_of_a_sub_process_terminates_it(h: Harness) -> None:
    key = h.start(MODEL)
    h.complete(key, "first")
    modify(h, key, activate=[{"elementId": "last"}], terminate=[element_key(h, key, "inner_a")])
    assert h.waiting_at(key) == ["last"]  # the sub-process ended with its last token
    assert h.instance(key)["state"] == "active"


def test_terminating_a_sub_process_ends_everything_inside_it(h: Harness) -> None:
    key = h.start(MODEL)
    h.complete(key, "first")
    modify(h, key, activate=[{"elementId": "last"}], terminate=[element_key(h, key, "sp")])
    assert h.waiting_at(key) == ["last"]
    inner = next(j for j in h.jobs(key) if j["elementId"] == "inner_a")
    assert inner["state"] == "terminated"


def test_variables_alone_set_the_process_scope(h: Harness) -> None:
    key = h.start(MODEL, {"a": 1})
    modify(h, key, variables={"a": 2, "b": 3})
    assert h.instance(key)["variables"] == {"a": 2, "b": 3}
    assert h.waiting_at(key) == ["first"]


def test_terminating_a_message_catch_closes_its_subscription() -> None:
    model = bpmn(
        start()
        + gateway("fork", "parallel")
        + message_catch("wait", "m")
        + service("work", "W")
        + end("e1")
        + end("e2")
        + chain("start", "fork")
        + flow("a", "fork", "wait")
        + flow("b", "fork", "work")
        + chain("wait", "e1", prefix="g")
        + chain("work", "e2", prefix="g"),
        errors=message("m", "msg", "=k"),
    )
    parts = Partitions(count=1)  # the subscription's close travels as a relay, applied here
    parts.deploy(model)
    key = parts.ok(1, "create_instance", bpmnProcessId="p", variables={"k": "c1"})[
        "processInstanceKey"
    ]
    h = parts[1]
    assert h.store.tables["subscriptions"]
    parts.ok(1, "modify_instance", processInstanceKey=key, terminate=[element_key(h, key, "wait")])
    assert h.waiting_at(key) == ["work"]
    assert not h.store.tables["subscriptions"]


@pytest.mark.parametrize(
    ("element_id", "why"),
    [
        ("nope", "no such element"),
        ("f_first_sp", "sequence flow"),
        ("s_in", "start event"),
        ("late", "boundary event"),
    ],
)
def test_starts_that_cannot_be_placed_are_refused_naming_the_element(
    h: Harness, element_id: str, why: str
) -> None:
    key = h.start(MODEL)
    error = refused(h, key, activate=[{"elementId": element_id}])
    assert isinstance(error, BadRequest)
    assert element_id in error.message and why in error.message


def test_an_element_inside_a_multi_instance_body_is_refused(h: Harness) -> None:
    loop = (
        "<bpmn:extensionElements><zeebe:loopCharacteristics "
        'inputCollection="=items"/></bpmn:extensionElements>'
    )
    body = f'<bpmn:subProcess id="mi"><bpmn:multiInstanceLoopCharacteristics>{loop}'
    body += f"</bpmn:multiInstanceLoopCharacteristics>{INNER}</bpmn:subProcess>"
    model = bpmn(start() + body + end() + chain("start", "mi", "end"))
    key = h.start(model, {"items": [1, 2]})
    error = refused(h, key, activate=[{"elementId": "inner_b"}])
    assert isinstance(error, BadRequest)
    assert "inner_b" in error.message and "multi-instance" in error.message
    # The multi-instance activity itself may be started: a new body with its iterations.
    modify(h, key, variables={"items": [7]}, activate=[{"elementId": "mi"}])
    bodies = [e for e in h.instance(key)["activeElementInstances"] if e["elementId"] == "mi"]
    assert len([j for j in h.active_jobs(key) if j["elementId"] == "inner_a"]) == 3
    assert len(bodies) >= 2


def test_terminate_refusals(h: Harness) -> None:
    key = h.start(MODEL)
    error = refused(h, key, terminate=[123456])
    assert isinstance(error, BadRequest) and "123456" in error.message
    sp_start = [{"elementId": "inner_b", "ancestorElementInstanceKey": 999}]
    error = refused(h, key, activate=sp_start)
    assert isinstance(error, BadRequest) and "999" in error.message
    h.complete(key, "first")
    sp = element_key(h, key, "sp")
    error = refused(h, key, activate=[{"elementId": "inner_b"}], terminate=[sp])
    assert isinstance(error, BadRequest) and str(sp) in error.message
    error = refused(h, key, activate=[{"elementId": "last", "variables": [{"scopeId": "x"}]}])
    assert isinstance(error, BadRequest) and "'x'" in error.message


def test_an_ended_instance_is_a_failed_precondition(h: Harness) -> None:
    key = h.start(MODEL)
    h.ok("cancel_instance", processInstanceKey=key)
    error = refused(h, key, variables={"a": 1})
    assert isinstance(error, InvalidState)


def test_a_called_child_is_not_terminated_by_modifying_it(h: Harness) -> None:
    h.deploy(
        bpmn(
            start() + service("child_task", "C") + end() + chain("start", "child_task", "end"),
            "child",
        )
    )
    parent = h.start(
        bpmn(start() + call_activity("call", "child") + end() + chain("start", "call", "end"))
    )
    child = h.instance(parent)["activeElementInstances"][0]["childProcessInstanceKey"]
    error = refused(h, child, terminate=[element_key(h, child, "child_task")])
    assert isinstance(error, BadRequest) and str(parent) in error.message


def test_create_instance_at_start_instructions(h: Harness) -> None:
    definition = h.deploy(MODEL)["processDefinitionKey"]
    created = h.ok(
        "create_instance",
        processDefinitionKey=definition,
        variables={"v": 1},
        startInstructions=[{"elementId": "inner_b"}, {"elementId": "last"}],
    )
    key = created["processInstanceKey"]
    assert h.waiting_at(key) == ["inner_b", "last", "sp"]
    assert not any(j["elementId"] == "first" for j in h.jobs(key))
    outcome = h.apply(
        "create_instance",
        processDefinitionKey=definition,
        startInstructions=[{"elementId": "start"}],
    )
    assert isinstance(outcome.error, BadRequest) and "start" in outcome.error.message


def test_malformed_instructions_are_bad_requests(h: Harness) -> None:
    key = h.start(MODEL)
    for fields in (
        {"activate": "x"},
        {"activate": [{"elementId": ""}]},
        {"activate": [{"elementId": "last", "variables": [{"variables": []}]}]},
        {"terminate": ["a"]},
    ):
        assert isinstance(refused(h, key, **fields), BadRequest)


def test_starting_inside_an_event_sub_process_interrupts_nothing(h: Harness) -> None:
    handler = (
        '<bpmn:subProcess id="esp" triggeredByEvent="true">'
        '<bpmn:startEvent id="es"><bpmn:errorEventDefinition/></bpmn:startEvent>'
        + service("cleanup", "C")
        + end("ee")
        + chain("es", "cleanup", "ee", prefix="x")
        + "</bpmn:subProcess>"
    )
    model = bpmn(start() + service("work", "W") + end() + chain("start", "work", "end") + handler)
    key = h.start(model)
    modify(h, key, activate=[{"elementId": "cleanup"}])
    assert h.waiting_at(key) == ["cleanup", "esp", "work"]
    h.complete(key, "cleanup")  # the event sub-process ends; the main token is still there
    assert h.waiting_at(key) == ["work"]
    assert isinstance(refused(h, key, activate=[{"elementId": "esp"}]), BadRequest)
    h.complete(key, "work")
    assert h.instance(key)["state"] == "completed"
