"""Models ZenBPM runs that Zeebe's validation would refuse: each leniency and its semantics
(docs/bpmn-support.md, "Leniencies")."""

from __future__ import annotations

from support.bpmn import (
    HEAD,
    bpmn,
    chain,
    end,
    error,
    error_boundary,
    error_end,
    flow,
    service,
    start,
    sub,
)

from engine.helpers import Harness
from zennode.engine.parser import NO_TASK_DEFINITION_JOB_TYPE, parse_definitions


def test_service_and_send_tasks_without_task_definition_make_jobs_of_the_documented_type(
    h: Harness,
) -> None:
    body = (
        start()
        + '<bpmn:serviceTask id="svc"/>'
        + '<bpmn:sendTask id="snd"><bpmn:extensionElements><zeebe:taskHeaders>'
        '<zeebe:header key="k" value="v"/></zeebe:taskHeaders></bpmn:extensionElements>'
        "</bpmn:sendTask>"
        + '<bpmn:userTask id="usr"/>'
        + '<bpmn:serviceTask id="typeless"><bpmn:extensionElements><zenbpm:taskDefinition/>'
        "</bpmn:extensionElements></bpmn:serviceTask>"
        + end()
        + chain("start", "svc", "snd", "usr", "typeless", "end")
    )
    key = h.start(bpmn(body))
    job = h.job(key, "svc")
    assert job["type"] == NO_TASK_DEFINITION_JOB_TYPE == "no-task-definition"
    assert job["elementId"] == "svc" and job["retries"] == 3
    h.complete(key, "svc")
    job = h.job(key, "snd")
    assert job["type"] == NO_TASK_DEFINITION_JOB_TYPE and job["customHeaders"] == {"k": "v"}
    h.complete(key, "snd")
    assert h.job(key, "usr")["type"] == "user-task"  # as before: user tasks have their own type
    h.complete(key, "usr")
    assert h.job(key, "typeless")["type"] == NO_TASK_DEFINITION_JOB_TYPE
    h.complete(key, "typeless")
    assert h.instance(key)["state"] == "completed"


def test_message_throw_events_without_task_definition_make_jobs_of_the_documented_type(
    h: Harness,
) -> None:
    body = (
        start() + '<bpmn:intermediateThrowEvent id="notify"><bpmn:messageEventDefinition/>'
        "</bpmn:intermediateThrowEvent>"
        + '<bpmn:endEvent id="reply"><bpmn:messageEventDefinition/></bpmn:endEvent>'
        + chain("start", "notify", "reply")
    )
    key = h.start(bpmn(body))
    job = h.job(key, "notify")
    assert job["type"] == NO_TASK_DEFINITION_JOB_TYPE and job["retries"] == 3
    h.complete(key, "notify")
    assert h.job(key, "reply")["type"] == NO_TASK_DEFINITION_JOB_TYPE
    h.complete(key, "reply")
    assert h.instance(key)["state"] == "completed"


def test_a_sequence_flow_without_source_and_target_is_ignored_with_a_warning(h: Harness) -> None:
    body = (
        start()
        + end()
        + chain("start", "end")
        + '<bpmn:sequenceFlow id="Flow_dangling"/>'
        + "<bpmn:sequenceFlow/>"
    )
    result = h.deploy(bpmn(body))
    assert result["warnings"] == [
        "process p: sequence flow Flow_dangling has no source and no target: ignored",
        "process p: a sequence flow without an id has no source and no target: ignored",
    ]
    key = h.ok("create_instance", bpmnProcessId="p")["processInstanceKey"]
    assert h.instance(key)["state"] == "completed"
    assert "warnings" not in h.deploy(bpmn(start() + end() + chain("start", "end"), pid="q"))


def test_a_sequence_flow_with_only_one_end_is_still_refused(h: Harness) -> None:
    half = '<bpmn:sequenceFlow id="half" sourceRef="end"/>'
    body = start() + end() + chain("start", "end") + half
    outcome = h.apply("deploy", xml=bpmn(body))
    assert outcome.error is not None and "half has unknown target ''" in outcome.error.message


UNDECLARED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
    '<bpmn:process id="p" isExecutable="true">'
    '<bpmn:startEvent id="start"/>'
    '<bpmn:serviceTask id="a"><bpmn:extensionElements><zeebe:taskDefinition type="za"/>'
    "</bpmn:extensionElements></bpmn:serviceTask>"
    '<bpmn:serviceTask id="b"><bpmn:extensionElements><zenbpm:taskDefinition type="zb"/>'
    '<zenbpm:ioMapping><zenbpm:input source="=1" target="one"/></zenbpm:ioMapping>'
    "</bpmn:extensionElements></bpmn:serviceTask>"
    '<bpmn:endEvent id="end"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="a"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="end"/>'
    "</bpmn:process>"
    '<bpmndi:BPMNDiagram id="di"><bpmndi:BPMNPlane id="pl" bpmnElement="p">'
    '<bpmndi:BPMNShape id="s1" bpmnElement="a"><dc:Bounds x="1" y="2" width="3" height="4"/>'
    "</bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"
    "</bpmn:definitions>"
)


def test_undeclared_prefixes_of_known_namespaces_are_bound(h: Harness) -> None:
    [process] = parse_definitions(UNDECLARED.encode()).processes
    assert process.elements["a"].task is not None
    key = h.start(UNDECLARED)
    assert h.job(key, "a")["type"] == "za"
    h.complete(key, "a")
    job = h.job(key, "b")
    assert job["type"] == "zb" and job["variables"] == {"one": 1}


def test_an_unknown_undeclared_prefix_is_still_not_well_formed(h: Harness) -> None:
    xml = UNDECLARED.replace("zeebe:taskDefinition", "acme:taskDefinition")
    outcome = h.apply("deploy", xml=xml)
    assert outcome.error is not None and "not well-formed" in outcome.error.message


def test_a_declared_prefix_is_left_as_declared() -> None:
    """A model that binds `zeebe` to another namespace keeps its binding (nothing is added)."""
    xml = (HEAD + "</bpmn:definitions>").replace(
        'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"', 'xmlns:zeebe="urn:other"'
    )
    from zennode.engine.parser import declare_known_prefixes

    assert declare_known_prefixes(xml.encode()) == xml.encode()


def _error_end_without_code() -> str:
    return '<bpmn:endEvent id="boom"><bpmn:errorEventDefinition/></bpmn:endEvent>'


def test_an_error_end_event_without_error_reference_is_caught_by_a_catch_all_boundary(
    h: Harness,
) -> None:
    inner = start("s_in") + _error_end_without_code() + chain("s_in", "boom")
    body = (
        start()
        + sub("sp", inner)
        + error_boundary("coded", "sp", "Known")
        + error_boundary("any", "sp")
        + end()
        + service("after_any", "x")
        + service("after_coded", "y")
        + chain("start", "sp", "end")
        + flow("f_any", "any", "after_any")
        + flow("f_coded", "coded", "after_coded")
    )
    key = h.start(bpmn(body, errors=error("Known", "K")))
    assert h.waiting_at(key) == ["after_any"] and h.open_incidents(key) == []


def test_an_error_end_event_whose_error_has_no_code_is_caught_by_a_catch_all_event_sub_process(
    h: Harness,
) -> None:
    esp = (
        '<bpmn:subProcess id="esp" triggeredByEvent="true">'
        '<bpmn:startEvent id="es"><bpmn:errorEventDefinition/></bpmn:startEvent>'
        + service("handle", "handle")
        + end("esp_end")
        + chain("es", "handle", "esp_end")
        + "</bpmn:subProcess>"
    )
    body = (
        start()
        + '<bpmn:endEvent id="boom"><bpmn:errorEventDefinition errorRef="NoCode"/></bpmn:endEvent>'
        + esp
        + chain("start", "boom")
    )
    key = h.start(bpmn(body, errors='<bpmn:error id="NoCode" name="no code"/>'))
    assert h.waiting_at(key) == ["esp", "handle"]
    h.complete(key, "handle")
    assert h.instance(key)["state"] == "completed"


def test_an_error_without_code_passes_boundaries_that_catch_a_code(h: Harness) -> None:
    inner = start("s_in") + _error_end_without_code() + chain("s_in", "boom")
    body = (
        start()
        + sub("sp", inner)
        + error_boundary("coded", "sp", "Known")
        + end()
        + end("after_coded")
        + chain("start", "sp", "end")
        + flow("f_coded", "coded", "after_coded")
    )
    key = h.start(bpmn(body, errors=error("Known", "K")))
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "UNHANDLED_ERROR_EVENT" and incident["elementId"] == "boom"
    assert "an error without a code" in incident["message"]


def test_a_coded_error_end_event_is_caught_by_a_matching_boundary_before_a_catch_all(
    h: Harness,
) -> None:
    inner = start("s_in") + error_end("boom", "Known") + chain("s_in", "boom")
    body = (
        start()
        + sub("sp", inner)
        + error_boundary("any", "sp")
        + error_boundary("coded", "sp", "Known")
        + end()
        + service("after_any", "x")
        + service("after_coded", "y")
        + chain("start", "sp", "end")
        + flow("f_any", "any", "after_any")
        + flow("f_coded", "coded", "after_coded")
    )
    key = h.start(bpmn(body, errors=error("Known", "K")))
    assert h.waiting_at(key) == ["after_coded"]


def test_an_input_mapping_without_source_sets_null(h: Harness) -> None:
    body = (
        start()
        + '<bpmn:serviceTask id="t"><bpmn:extensionElements><zeebe:taskDefinition type="w"/>'
        '<zeebe:ioMapping><zeebe:input target="empty"/><zeebe:input source="=x" target="y"/>'
        "</zeebe:ioMapping></bpmn:extensionElements></bpmn:serviceTask>"
        + end()
        + chain("start", "t", "end")
    )
    key = h.start(bpmn(body), {"x": 5})
    assert h.job(key, "t")["variables"] == {"empty": None, "y": 5}
