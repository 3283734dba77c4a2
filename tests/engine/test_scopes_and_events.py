"""Nested scopes (joins, errors and cancel inside sub-processes) and the events listeners get."""

from __future__ import annotations

from support.bpmn import (
    bpmn,
    chain,
    end,
    error,
    error_boundary,
    error_end,
    flow,
    gateway,
    service,
    start,
    sub,
)

from .helpers import Harness


def test_inclusive_join_waits_for_a_token_inside_a_nested_sub_process(h: Harness) -> None:
    nested = start("ns") + service("deep", "deep") + end("ne") + chain("ns", "deep", "ne")
    body = (
        start()
        + gateway("fork", "inclusive")
        + sub("inner", nested)
        + service("quick", "quick")
        + gateway("join", "inclusive")
        + end()
        + chain("start", "fork")
        + flow("to_inner", "fork", "inner", "=true")
        + flow("to_quick", "fork", "quick", "=true")
        + flow("inner_join", "inner", "join")
        + flow("quick_join", "quick", "join")
        + chain("join", "end")
    )
    key = h.start(bpmn(body))
    h.complete(key, "quick")
    assert h.waiting_at(key) == ["deep", "inner"]  # the join still expects the sub-process
    h.complete(key, "deep")
    assert h.instance(key)["state"] == "completed"


def test_error_passes_through_sub_processes_to_a_catch_all_boundary(h: Harness) -> None:
    innermost = start("s3") + error_end("boom", "E") + chain("s3", "boom")
    middle = start("s2") + sub("sp3", innermost) + end("e2") + chain("s2", "sp3", "e2")
    outer = start("s1") + sub("sp2", middle) + end("e1") + chain("s1", "sp2", "e1")
    body = (
        start()
        + sub("sp1", outer)
        + error_boundary("catch", "sp1")
        + service("handler", "h")
        + end()
        + end("unused")
        + chain("start", "sp1", "unused")
        + chain("catch", "handler", "end")
    )
    key = h.start(bpmn(body, errors=error("E", "code-1")))
    assert h.waiting_at(key) == ["handler"]


def test_cancel_inside_nested_sub_process_terminates_everything(h: Harness) -> None:
    inner = (
        start("s_in")
        + gateway("fork", "parallel")
        + service("a", "A")
        + service("b", "B")
        + end("ea")
        + end("eb")
        + chain("s_in", "fork")
        + flow("x1", "fork", "a")
        + flow("x2", "fork", "b")
        + chain("a", "ea")
        + chain("b", "eb")
    )
    key = h.start(bpmn(start() + sub("sp", inner) + end() + chain("start", "sp", "end")))
    assert h.waiting_at(key) == ["a", "b", "sp"]
    h.ok("cancel_instance", processInstanceKey=key)
    assert h.instance(key)["activeElementInstances"] == []
    assert {j["state"] for j in h.jobs(key)} == {"terminated"}
    terminated = [e for e in h.events if e["event"] == "job_terminated"]
    assert len(terminated) == 2 and {e["type"] for e in terminated} == {"A", "B"}


def test_parallel_join_in_a_sub_process_is_per_scope(h: Harness) -> None:
    inner = (
        start("s_in")
        + gateway("fork", "parallel")
        + service("a", "A")
        + service("b", "B")
        + gateway("join", "parallel")
        + end("e_in")
        + chain("s_in", "fork")
        + flow("x1", "fork", "a")
        + flow("x2", "fork", "b")
        + flow("y1", "a", "join")
        + flow("y2", "b", "join")
        + chain("join", "e_in")
    )
    body = (
        start()
        + gateway("split", "parallel")
        + sub("sp1", inner.replace('id="', 'id="one_').replace('Ref="', 'Ref="one_'))
        + sub("sp2", inner.replace('id="', 'id="two_').replace('Ref="', 'Ref="two_'))
        + gateway("merge", "parallel")
        + end()
        + chain("start", "split")
        + flow("p1", "split", "sp1")
        + flow("p2", "split", "sp2")
        + flow("m1", "sp1", "merge")
        + flow("m2", "sp2", "merge")
        + chain("merge", "end")
    )
    key = h.start(bpmn(body))
    h.complete(key, "one_a")
    h.complete(key, "two_b")
    assert h.waiting_at(key) == ["one_b", "sp1", "sp2", "two_a"]
    h.complete(key, "one_b")
    assert h.waiting_at(key) == ["sp2", "two_a"]
    h.complete(key, "two_a")
    assert h.instance(key)["state"] == "completed"


def test_events_carry_keys_and_job_types(h: Harness) -> None:
    xml = bpmn(start() + service("t", "work", retries="1") + end() + chain("start", "t", "end"))
    key = h.start(xml)
    job = h.job(key, "t")
    h.ok("fail_job", jobKey=job["key"], message="x")
    [incident] = h.open_incidents(key)
    h.ok("resolve_incident", incidentKey=incident["key"])
    h.complete(key, "t")
    names = [e["event"] for e in h.events]
    assert names == [
        "instance_created",
        "job_created",
        "job_failed",
        "incident_created",
        "incident_resolved",
        "job_activatable",
        "job_completed",
        "instance_completed",
    ]
    for event in h.events:
        assert event["processInstanceKey"] == key
        if event["event"].startswith("job_"):
            assert event["jobKey"] == job["key"] and event["type"] == "work"
        if event["event"].startswith("incident_"):
            assert event["incidentKey"] == incident["key"]
    assert h.events[1]["job"]["variables"] == {}
