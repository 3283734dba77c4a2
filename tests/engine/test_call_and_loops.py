"""Call activities, multi-instance activities and event sub-processes."""

from __future__ import annotations

from support.bpmn import (
    boundary,
    bpmn,
    call_activity,
    chain,
    definitions,
    end,
    error,
    error_boundary,
    error_end,
    flow,
    process,
    service,
    start,
    timer_def,
)

from .helpers import Harness

S = 1000


CALL_FLOWS = chain("start", "c", "end")
CHILD = process(
    start() + service("ct", "child-work") + end() + chain("start", "ct", "end"), "child"
)


def test_call_activity_runs_the_latest_child_and_returns_its_variables() -> None:
    h = Harness()
    h.deploy(definitions(CHILD))
    parent_xml = definitions(
        process(
            start() + call_activity("c", "child") + end() + chain("start", "c", "end"), "parent"
        )
    )
    key = h.start(parent_xml, {"a": 1})
    [child_job] = [j for j in h.jobs() if j["type"] == "child-work"]
    assert child_job["processInstanceKey"] != key
    assert child_job["variables"]["a"] == 1  # all parent variables passed down
    h.ok("complete_job", jobKey=child_job["key"], variables={"b": 2})
    view = h.instance(key)
    assert view["state"] == "completed" and view["variables"] == {"a": 1, "b": 2}


def test_call_activity_output_mappings_and_feel_process_id() -> None:
    h = Harness()
    h.deploy(definitions(CHILD))
    parent_xml = definitions(
        process(
            start()
            + call_activity("c", "=which", ' propagateAllChildVariables="false"', {"got": "=b"})
            + end()
            + chain("start", "c", "end"),
            "parent",
        )
    )
    key = h.start(parent_xml, {"which": "child"})
    [child_job] = [j for j in h.jobs() if j["type"] == "child-work"]
    h.ok("complete_job", jobKey=child_job["key"], variables={"b": 2, "noise": 3})
    assert h.instance(key)["variables"] == {"which": "child", "got": 2}


def test_cancelling_the_parent_cancels_the_child_and_its_job() -> None:
    h = Harness()
    h.deploy(definitions(CHILD))
    key = h.start(
        definitions(
            process(
                start() + call_activity("c", "child") + end() + chain("start", "c", "end"), "parent"
            )
        )
    )
    [child_job] = [j for j in h.jobs() if j["type"] == "child-work"]
    child_key = child_job["processInstanceKey"]
    [waiting] = h.instance(key)["activeElementInstances"]
    assert waiting["childProcessInstanceKey"] == child_key
    assert h.instance(child_key)["parentProcessInstanceKey"] == key
    refused = h.apply("cancel_instance", processInstanceKey=child_key)
    assert type(refused.error).__name__ == "InvalidState"
    h.ok("cancel_instance", processInstanceKey=key)
    assert h.instance(child_key)["state"] == "terminated"
    assert [j["state"] for j in h.jobs(child_key)] == ["terminated"]


def test_timer_boundary_on_call_activity_terminates_the_child() -> None:
    h = Harness()
    h.deploy(definitions(CHILD))
    key = h.start(
        definitions(
            process(
                start()
                + call_activity("c", "child")
                + boundary("late", "c", timer_def("duration", "PT1M"))
                + end()
                + end("end2")
                + chain("start", "c", "end")
                + flow("f_late", "late", "end2"),
                "parent",
            )
        )
    )
    [child_job] = [j for j in h.jobs() if j["type"] == "child-work"]
    h.ok("trigger_timers", now_ms=h.now_ms + 60 * S)
    assert h.instance(key)["state"] == "completed"
    assert h.instance(child_job["processInstanceKey"])["state"] == "terminated"


def test_missing_called_process_is_an_incident_and_child_errors_reach_the_parent() -> None:
    h = Harness()
    key = h.start(
        definitions(
            process(
                start() + call_activity("c", "nope") + end() + chain("start", "c", "end"), "parent"
            )
        )
    )
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "CALLED_ELEMENT_ERROR"
    failing_child = process(start() + error_end("boom", "E") + chain("start", "boom"), "failing")
    parent = process(
        start()
        + call_activity("c", "failing")
        + error_boundary("caught", "c", "E")
        + end()
        + end("end2")
        + chain("start", "c", "end")
        + flow("f_caught", "caught", "end2"),
        "parent2",
    )
    h.deploy(definitions(failing_child, errors=error("E", "BOOM")))
    key2 = h.start(definitions(parent, errors=error("E", "BOOM")))
    assert h.instance(key2)["state"] == "completed"


def loop(sequential: bool, extra: str = "", condition: str | None = None) -> str:
    flag = "true" if sequential else "false"
    cond = f"<bpmn:completionCondition>{condition}</bpmn:completionCondition>" if condition else ""
    return (
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{flag}">'
        f'<bpmn:extensionElements><zeebe:loopCharacteristics inputCollection="=items" '
        f'inputElement="item"{extra}/></bpmn:extensionElements>{cond}'
        "</bpmn:multiInstanceLoopCharacteristics>"
    )


def mi_task(sequential: bool, extra: str = "", condition: str | None = None) -> str:
    return (
        '<bpmn:serviceTask id="t"><bpmn:extensionElements><zeebe:taskDefinition type="w"/>'
        f"</bpmn:extensionElements>{loop(sequential, extra, condition)}</bpmn:serviceTask>"
    )


OUT = ' outputCollection="results" outputElement="=done"'


def test_parallel_multi_instance_collects_outputs_in_item_order() -> None:
    h = Harness()
    key = h.start(
        bpmn(start() + mi_task(False, OUT) + end() + chain("start", "t", "end")),
        {"items": [1, 2, 3]},
    )
    jobs = h.active_jobs(key)
    assert sorted(j["variables"]["item"] for j in jobs) == [1, 2, 3]
    activated = h.ok("activate_jobs", jobType="w", worker="x", timeoutMs=1000, maxJobs=3)["jobs"]
    assert sorted(j["variables"]["item"] for j in activated) == [1, 2, 3]  # locals kept
    for job in reversed(jobs):
        h.ok("complete_job", jobKey=job["key"], variables={"done": job["variables"]["item"] * 10})
    view = h.instance(key)
    assert view["state"] == "completed" and view["variables"]["results"] == [10, 20, 30]


def test_sequential_multi_instance_runs_one_at_a_time() -> None:
    h = Harness()
    key = h.start(
        bpmn(start() + mi_task(True, OUT) + end() + chain("start", "t", "end")),
        {"items": ["a", "b"]},
    )
    seen = []
    for _ in range(2):
        [job] = h.active_jobs(key)
        seen.append(job["variables"]["item"])
        h.ok("complete_job", jobKey=job["key"], variables={"done": job["variables"]["loopCounter"]})
    assert seen == ["a", "b"]
    assert h.instance(key)["variables"]["results"] == [1, 2]


def test_completion_condition_terminates_the_other_iterations() -> None:
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + mi_task(False, "", "=numberOfCompletedInstances &gt;= 1")
            + end()
            + chain("start", "t", "end")
        ),
        {"items": [1, 2, 3]},
    )
    first, *rest = h.active_jobs(key)
    h.ok("complete_job", jobKey=first["key"], variables={})
    assert h.instance(key)["state"] == "completed"
    assert all(j["state"] == "terminated" for j in h.jobs(key) if j["key"] != first["key"])
    assert rest


def test_empty_collection_completes_at_once_and_multi_instance_sub_process() -> None:
    h = Harness()
    key = h.start(
        bpmn(start() + mi_task(False, OUT) + end() + chain("start", "t", "end")), {"items": []}
    )
    assert h.instance(key)["variables"]["results"] == []
    sub = (
        f'<bpmn:subProcess id="sp">{loop(False)}'
        + start("s2")
        + service("inner", "=item")
        + end("e2")
        + chain("s2", "inner", "e2", prefix="g")
        + "</bpmn:subProcess>"
    )
    key = h.start(bpmn(start() + sub + end() + chain("start", "sp", "end")), {"items": ["x", "y"]})
    assert sorted(j["type"] for j in h.active_jobs(key)) == ["x", "y"]
    for job in h.active_jobs(key):
        h.ok("complete_job", jobKey=job["key"], variables={})
    assert h.instance(key)["state"] == "completed"


def test_interrupting_boundary_on_a_multi_instance_body() -> None:
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + mi_task(False)
            + boundary("late", "t", timer_def("duration", "PT1S"))
            + end()
            + end("e2")
            + chain("start", "t", "end")
            + flow("f_late", "late", "e2")
        ),
        {"items": [1, 2]},
    )
    assert len(h.active_jobs(key)) == 2
    h.ok("trigger_timers", now_ms=h.now_ms + S)
    assert h.instance(key)["state"] == "completed"
    assert all(j["state"] == "terminated" for j in h.jobs(key))


def esp(sid: str, start_xml: str, body: str) -> str:
    return (
        f'<bpmn:subProcess id="{sid}" triggeredByEvent="true">{start_xml}{body}</bpmn:subProcess>'
    )


def test_interrupting_timer_event_sub_process() -> None:
    h = Harness()
    handler = esp(
        "esp",
        f'<bpmn:startEvent id="es">{timer_def("duration", "PT10S")}</bpmn:startEvent>',
        service("cleanup", "cleanup") + end("ee") + chain("es", "cleanup", "ee", prefix="x"),
    )
    key = h.start(bpmn(start() + service("t", "w") + end() + chain("start", "t", "end") + handler))
    job = h.job(key, "t")
    h.ok("trigger_timers", now_ms=h.now_ms + 10 * S)
    assert h.waiting_at(key) == ["cleanup", "esp"]
    assert h.apply("complete_job", jobKey=job["key"], variables={}).error is not None
    h.complete(key, "cleanup")
    assert h.instance(key)["state"] == "completed"


def test_non_interrupting_timer_event_sub_process_runs_beside_the_main_flow() -> None:
    h = Harness()
    handler = esp(
        "esp",
        '<bpmn:startEvent id="es" isInterrupting="false">'
        + timer_def("cycle", "R2/PT10S")
        + "</bpmn:startEvent>",
        service("ping", "ping") + end("ee") + chain("es", "ping", "ee", prefix="x"),
    )
    key = h.start(bpmn(start() + service("t", "w") + end() + chain("start", "t", "end") + handler))
    t0 = h.now_ms
    h.ok("trigger_timers", now_ms=t0 + 10 * S)
    h.ok("trigger_timers", now_ms=t0 + 20 * S)
    assert sorted(j["elementId"] for j in h.active_jobs(key)) == ["ping", "ping", "t"]
    h.complete(key, "t")
    assert h.instance(key)["state"] == "active"  # the event sub-processes still run
    for job in h.active_jobs(key):
        h.ok("complete_job", jobKey=job["key"], variables={})
    assert h.instance(key)["state"] == "completed"


def test_error_event_sub_process_catches_an_error_from_a_job() -> None:
    h = Harness()
    handler = esp(
        "esp",
        '<bpmn:startEvent id="es"><bpmn:errorEventDefinition errorRef="E"/></bpmn:startEvent>',
        end("ee") + chain("es", "ee", prefix="x"),
    )
    key = h.start(
        bpmn(
            start() + service("t", "w") + end() + chain("start", "t", "end") + handler,
            errors=error("E", "BAD"),
        )
    )
    job = h.job(key, "t")
    h.ok("fail_job", jobKey=job["key"], errorCode="BAD", retries=0)
    assert h.instance(key)["state"] == "completed"
    assert not h.open_incidents(key)


def test_failed_output_element_stops_the_body_at_an_incident_and_resolving_continues() -> None:
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + mi_task(True, ' outputCollection="results" outputElement="=done + bump(done)"')
            + end()
            + chain("start", "t", "end")
        ),
        {"items": [1, 2]},
    )
    [job] = h.active_jobs(key)
    h.ok("complete_job", jobKey=job["key"], variables={"done": 1})  # no function bump()
    [incident] = h.open_incidents(key)
    assert incident["elementId"] == "t" and not h.active_jobs(key)
    h.ok("resolve_incident", incidentKey=incident["key"])
    [second] = h.active_jobs(key)
    assert second["variables"]["item"] == 2
    h.ok("complete_job", jobKey=second["key"], variables={"done": 5})
    [again] = h.open_incidents(key)  # bump() fails again; resolving completes the body
    h.ok("resolve_incident", incidentKey=again["key"])
    view = h.instance(key)
    assert view["state"] == "completed" and view["variables"]["results"] == [None, None]


def test_multi_instance_call_activity_starts_one_child_per_item() -> None:
    h = Harness()
    h.deploy(definitions(CHILD))
    parent = process(
        start() + '<bpmn:callActivity id="c"><bpmn:extensionElements>'
        '<zeebe:calledElement processId="child"/></bpmn:extensionElements>'
        + loop(False, ' outputCollection="results" outputElement="=b"')
        + "</bpmn:callActivity>"
        + end()
        + chain("start", "c", "end"),
        "parent",
    )
    key = h.start(definitions(parent), {"items": ["x", "y"]})
    child_jobs = [j for j in h.jobs() if j["type"] == "child-work"]
    assert sorted(j["variables"]["item"] for j in child_jobs) == ["x", "y"]
    for job in child_jobs:
        h.ok("complete_job", jobKey=job["key"], variables={"b": job["variables"]["item"] * 2})
    view = h.instance(key)
    assert view["state"] == "completed" and view["variables"]["results"] == ["xx", "yy"]
