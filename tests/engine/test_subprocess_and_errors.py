"""Embedded sub-processes, error end events, error boundaries and terminate end events."""

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


def test_sub_process_runs_its_own_start_and_completes_into_the_parent(h: Harness) -> None:
    inner = start("s_in") + service("work", "w") + end("e_in") + chain("s_in", "work", "e_in")
    body = (
        start()
        + sub("sp", inner)
        + service("after", "a")
        + end()
        + chain("start", "sp", "after", "end")
    )
    key = h.start(bpmn(body))
    assert h.waiting_at(key) == ["sp", "work"]
    h.complete(key, "work", fromInside=1)
    assert h.waiting_at(key) == ["after"]
    h.complete(key, "after")
    inst = h.instance(key)
    assert inst["state"] == "completed" and inst["variables"] == {"fromInside": 1}


def test_sub_process_waits_for_all_its_tokens(h: Harness) -> None:
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
    body = start() + sub("sp", inner) + end() + chain("start", "sp", "end")
    key = h.start(bpmn(body))
    h.complete(key, "a")
    assert h.waiting_at(key) == ["b", "sp"]
    h.complete(key, "b")
    assert h.instance(key)["state"] == "completed"


def error_model(boundary_ref: str | None, thrown: str = "Err_A") -> str:
    inner = start("s_in") + error_end("boom", thrown) + chain("s_in", "boom")
    body = (
        start()
        + sub("sp", inner)
        + error_boundary("catch", "sp", boundary_ref)
        + service("handled", "h")
        + end("normal")
        + chain("start", "sp", "normal")
        + chain("catch", "handled")
    )
    return bpmn(body, errors=error("Err_A", "A-code") + error("Err_B", "B-code"))


def test_error_end_event_is_caught_by_matching_boundary(h: Harness) -> None:
    key = h.start(error_model("Err_A"))
    assert h.waiting_at(key) == ["handled"]
    assert h.open_incidents(key) == []


def test_catch_all_boundary_catches_any_code(h: Harness) -> None:
    key = h.start(error_model(None, thrown="Err_B"))
    assert h.waiting_at(key) == ["handled"]


def test_boundary_with_other_code_does_not_catch_and_makes_an_incident(h: Harness) -> None:
    key = h.start(error_model("Err_B", thrown="Err_A"))
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "UNHANDLED_ERROR_EVENT"
    assert incident["elementId"] == "boom" and "A-code" in incident["message"]
    assert h.instance(key)["state"] == "failed"


def job_error_model() -> str:
    """start -> fork -> [sub-process sp: work (boundary A -> after_task)] and sibling_task."""
    inner = (
        start("s_in")
        + service("work", "w")
        + end("e_in")
        + error_boundary("on_task", "work", "Err_A")
        + end("after_task")
        + chain("s_in", "work", "e_in")
        + chain("on_task", "after_task")
    )
    body = (
        start()
        + gateway("fork", "parallel")
        + sub("sp", inner)
        + error_boundary("on_sp", "sp", "Err_B")
        + service("sibling_task", "s")  # outside the sub-process: never interrupted
        + end("after_sp")
        + end("normal")
        + end("sib_end")
        + chain("start", "fork")
        + flow("p1", "fork", "sp")
        + flow("p2", "fork", "sibling_task")
        + chain("sp", "normal")
        + chain("sibling_task", "sib_end")
        + chain("on_sp", "after_sp")
    )
    return bpmn(body, errors=error("Err_A", "A") + error("Err_B", "B"))


def test_job_error_caught_on_the_task_itself(h: Harness) -> None:
    key = h.start(job_error_model())
    job = h.job(key, "work")
    result = h.ok("fail_job", jobKey=job["key"], errorCode="A", variables={"why": "x"})
    assert result["caught"] is True
    # the task's boundary path ended inside the sub-process, which then completes normally
    assert h.waiting_at(key) == ["sibling_task"]
    assert h.instance(key)["variables"] == {"why": "x"}
    with h.store.read() as txn:
        from zennode.engine import queries

        assert queries.get_job(txn, job["key"])["state"] == "completed"


def test_job_error_caught_on_the_enclosing_sub_process(h: Harness) -> None:
    key = h.start(job_error_model())
    job = h.job(key, "work")
    h.ok("fail_job", jobKey=job["key"], errorCode="B")
    assert h.waiting_at(key) == ["sibling_task"]
    inst = h.instance(key)
    assert inst["state"] == "active"
    h.complete(key, "sibling_task")
    assert h.instance(key)["state"] == "completed"


def test_job_error_not_caught_is_an_incident_that_resolve_reopens(h: Harness) -> None:
    key = h.start(job_error_model())
    job = h.job(key, "work")
    result = h.ok("fail_job", jobKey=job["key"], errorCode="nobody", message="bad")
    [incident] = h.open_incidents(key)
    assert result["incidentKey"] == incident["key"]
    assert incident["errorType"] == "UNHANDLED_ERROR_EVENT" and incident["jobKey"] == job["key"]
    assert [j["state"] for j in h.jobs(key, state="failed")] == ["failed"]
    h.ok("resolve_incident", incidentKey=incident["key"])
    assert h.job(key, "work")["state"] == "active"
    h.complete(key, "work")
    h.complete(key, "sibling_task")
    assert h.instance(key)["state"] == "completed"


def test_terminate_end_event_ends_every_token_of_the_process(h: Harness) -> None:
    body = (
        start()
        + gateway("fork", "parallel")
        + service("slow", "slow")
        + '<bpmn:endEvent id="kill"><bpmn:terminateEventDefinition/></bpmn:endEvent>'
        + service("fast", "fast")
        + end()
        + chain("start", "fork")
        + flow("p1", "fork", "slow")
        + flow("p2", "fork", "fast")
        + chain("slow", "end")
        + chain("fast", "kill")
    )
    key = h.start(bpmn(body))
    slow = h.job(key, "slow")
    h.complete(key, "fast")
    inst = h.instance(key)
    assert inst["state"] == "completed"
    assert inst["activeElementInstances"] == []
    with h.store.read() as txn:
        from zennode.engine import queries

        assert queries.get_job(txn, slow["key"])["state"] == "terminated"


def test_terminate_end_in_sub_process_only_ends_the_sub_process(h: Harness) -> None:
    inner = (
        start("s_in")
        + gateway("fork", "parallel")
        + service("slow", "slow")
        + '<bpmn:endEvent id="kill"><bpmn:terminateEventDefinition/></bpmn:endEvent>'
        + end("e_in")
        + chain("s_in", "fork")
        + flow("p1", "fork", "slow")
        + flow("p2", "fork", "kill")
        + chain("slow", "e_in")
    )
    body = (
        start()
        + sub("sp", inner)
        + service("after", "a")
        + end()
        + chain("start", "sp", "after", "end")
    )
    key = h.start(bpmn(body))
    assert h.waiting_at(key) == ["after"]
    # the fork created the slow job first; the terminate end event then ended it
    assert [j["state"] for j in h.jobs(key) if j["elementId"] == "slow"] == ["terminated"]
