"""Inspection of one instance (issue 16): its history, jobs, incidents, children and open
event subscriptions, read from per-instance rows; and the commands assign_job and
delete_variable."""

from __future__ import annotations

import pytest
from support.bpmn import (
    boundary,
    bpmn,
    calling,
    chain,
    end,
    flow,
    gateway,
    message,
    message_catch,
    one_task,
    service,
    signal,
    signal_catch,
    start,
    sub,
    timer_def,
)

from zennode.engine import history, queries
from zennode.engine.commands import AssignJob, DeleteVariable, from_wire, to_wire
from zennode.errors import BadRequest, InvalidState, NotFound

from .helpers import Harness

MISSING = 1 << 51 | 999_999


def _read(h: Harness, query, *args, **kwargs):
    with h.store.read() as txn:
        return query(txn, *args, **kwargs)


def _history(h: Harness, key: int) -> list[dict]:
    items, total, truncated = _read(h, queries.instance_history, key, limit=1000)
    assert total == len(items) and not truncated
    return items


def test_history_lists_every_element_instance_in_start_order_with_its_end_state() -> None:
    h = Harness()
    body = start() + service("task", "work") + gateway("gw", default="f_gw_end") + end()
    body += chain("start", "task", "gw") + flow("f_gw_end", "gw", "end")
    key = h.start(bpmn(body, "p"))
    running = _history(h, key)
    assert [(r["elementId"], r["state"]) for r in running] == [
        ("start", "completed"),
        ("task", "active"),
    ]
    assert "endedAt" not in running[1] and running[1]["createdAt"] == h.now_ms
    assert running[1]["elementType"] == "serviceTask" and running[1]["scopeKey"] == key
    task_key = running[1]["key"]
    assert task_key == h.job(key, "task")["elementInstanceKey"]
    h.complete(key, "task")
    done = _history(h, key)
    assert [(r["elementId"], r["state"]) for r in done] == [
        ("start", "completed"),
        ("task", "completed"),
        ("gw", "completed"),
        ("end", "completed"),
    ]
    assert done[1]["endedAt"] == h.now_ms and done[1]["key"] == task_key
    assert [r["key"] for r in done] == sorted(r["key"] for r in done)
    page, total, _ = _read(h, queries.instance_history, key, offset=1, limit=2)
    assert total == 4 and [r["elementId"] for r in page] == ["task", "gw"]


def test_history_marks_what_a_cancel_or_an_interrupting_event_ended_as_terminated() -> None:
    h = Harness()
    body = start() + sub("inner", start("s2") + service("t", "work") + chain("s2", "t"))
    body += end() + chain("start", "inner", "end")
    key = h.start(bpmn(body, "p"))
    h.ok("cancel_instance", processInstanceKey=key)
    states = {r["elementId"]: r["state"] for r in _history(h, key)}
    assert states == {
        "start": "completed",
        "inner": "terminated",
        "s2": "completed",
        "t": "terminated",
    }


def test_a_parallel_join_is_one_history_row_once_every_token_arrived() -> None:
    h = Harness()
    body = start() + gateway("fork", "parallel") + gateway("join", "parallel") + end()
    body += service("a", "a") + service("b", "b")
    body += chain("start", "fork") + flow("fa", "fork", "a") + flow("fb", "fork", "b")
    body += flow("aj", "a", "join") + flow("bj", "b", "join") + chain("join", "end")
    key = h.start(bpmn(body, "p"))
    h.complete(key, "a")
    assert "join" not in [r["elementId"] for r in _history(h, key)]
    h.complete(key, "b")
    assert [r["elementId"] for r in _history(h, key)].count("join") == 1


def test_history_of_an_instance_stops_at_its_bound_and_says_so(monkeypatch) -> None:
    monkeypatch.setattr(history, "ENTRIES_MAX", 3)
    h = Harness()
    key = h.start(one_task("p", "work"))
    h.complete(key, "task")
    items, total, truncated = _read(h, queries.instance_history, key)
    assert total == 2 and truncated
    assert [r["elementId"] for r in items] == ["start", "task"]
    assert items[1]["state"] == "completed"


def test_per_instance_reads_refuse_an_unknown_instance() -> None:
    h = Harness()
    for query in (
        queries.instance_history,
        queries.instance_jobs,
        queries.instance_incidents,
        queries.child_instances,
        queries.event_subscriptions,
    ):
        with pytest.raises(NotFound, match="process instance"):
            _read(h, query, MISSING)


def test_instance_jobs_and_incidents_are_those_of_the_instance() -> None:
    h = Harness()
    definition = h.deploy(one_task("p", "work", retries=1))
    keys = [
        h.ok("create_instance", processDefinitionKey=definition["processDefinitionKey"])[
            "processInstanceKey"
        ]
        for _ in range(3)
    ]
    job = h.job(keys[1], "task")
    h.ok("fail_job", jobKey=job["key"], retries=0, message="boom")
    jobs, total = _read(h, queries.instance_jobs, keys[1])
    assert total == 1 and jobs[0]["key"] == job["key"] and jobs[0]["state"] == "failed"
    incidents, total = _read(h, queries.instance_incidents, keys[1])
    assert total == 1 and incidents[0]["jobKey"] == job["key"]
    assert _read(h, queries.instance_incidents, keys[0]) == ([], 0)
    assert _read(h, queries.instance_incidents, keys[1], incident_state="resolved") == ([], 0)


def test_child_processes_lists_running_and_ended_children_of_that_parent_only() -> None:
    h = Harness()
    h.deploy(one_task("child", "child-work"))
    body = start() + gateway("fork", "parallel") + end("e1") + end("e2")
    body += calling_activity("c1") + calling_activity("c2")
    body += chain("start", "fork") + flow("f1", "fork", "c1") + flow("f2", "fork", "c2")
    body += chain("c1", "e1") + chain("c2", "e2", prefix="g")
    parent = h.start(bpmn(body, "parent"))
    other = h.start(calling("other", "child"))
    children, total = _read(h, queries.child_instances, parent)
    assert total == 2
    assert {c["parentProcessInstanceKey"] for c in children} == {parent}
    h.complete(children[0]["processInstanceKey"], "task")
    children, total = _read(h, queries.child_instances, parent)
    assert [c["state"] for c in children] == ["completed", "active"]
    assert _read(h, queries.child_instances, other)[1] == 1
    assert _read(h, queries.child_instances, children[0]["processInstanceKey"]) == ([], 0)


def calling_activity(cid: str) -> str:
    return (
        f'<bpmn:callActivity id="{cid}"><bpmn:extensionElements>'
        '<zeebe:calledElement processId="child"/></bpmn:extensionElements></bpmn:callActivity>'
    )


def test_event_subscriptions_are_the_open_timers_messages_and_signals_of_the_instance() -> None:
    h = Harness()
    body = start() + gateway("fork", "parallel") + message_catch("wait_msg", "msg")
    body += signal_catch("wait_sig", "sig") + service("task", "work")
    body += boundary("late", "task", timer_def("duration", "PT1H")) + end("e1") + end("e2")
    body += end("e3") + end("e4")
    body += chain("start", "fork") + flow("a", "fork", "wait_msg") + flow("b", "fork", "wait_sig")
    body += flow("c", "fork", "task") + flow("d", "wait_msg", "e1") + flow("e", "wait_sig", "e2")
    body += flow("g", "task", "e3") + flow("h", "late", "e4")
    xml = bpmn(body, "p", errors=message("msg", "order-paid", "=orderId") + signal("sig", "stop"))
    key = h.start(xml, {"orderId": "o-1"})
    subs, total = _read(h, queries.event_subscriptions, key)
    assert total == 3
    by_type = {s["type"]: s for s in subs}
    assert by_type["message"]["messageName"] == "order-paid"
    assert by_type["message"]["correlationKey"] == "o-1"
    assert by_type["message"]["elementId"] == "wait_msg"
    assert by_type["signal"]["signalName"] == "stop"
    assert by_type["signal"]["elementId"] == "wait_sig"
    timer = by_type["timer"]
    assert timer["elementId"] == "late" and timer["dueDate"] == h.now_ms + 3_600_000
    assert timer["elementInstanceKey"] == h.job(key, "task")["elementInstanceKey"]
    assert all(s["processInstanceKey"] == key and s["state"] == "active" for s in subs)
    only, total = _read(h, queries.event_subscriptions, key, subscription_type="timer")
    assert total == 1 and only[0]["type"] == "timer"
    with pytest.raises(BadRequest):
        _read(h, queries.event_subscriptions, key, subscription_type="error")
    h.ok("cancel_instance", processInstanceKey=key)
    assert _read(h, queries.event_subscriptions, key) == ([], 0)


def test_assign_job_shows_the_assignee_and_the_jobs_filter_finds_it() -> None:
    h = Harness()
    definition = h.deploy(one_task("p", "work"))
    keys = [
        h.ok("create_instance", processDefinitionKey=definition["processDefinitionKey"])[
            "processInstanceKey"
        ]
        for _ in range(2)
    ]
    job = h.job(keys[0], "task")
    assert h.ok("assign_job", jobKey=job["key"], assignee="john") == {
        "jobKey": job["key"],
        "assignee": "john",
    }
    assert [j["key"] for j in h.jobs(assignee="john")] == [job["key"]]
    assert h.jobs(assignee="john", state="active")[0]["assignee"] == "john"
    h.ok("assign_job", jobKey=job["key"], assignee="mary")  # replaces, the index follows
    assert h.jobs(assignee="john") == []
    assert [j["key"] for j in h.jobs(assignee="mary")] == [job["key"]]
    h.complete(keys[0], "task")
    assert h.jobs(assignee="mary")[0]["state"] == "completed"
    assert isinstance(h.apply("assign_job", jobKey=job["key"], assignee="x").error, InvalidState)
    assert isinstance(h.apply("assign_job", jobKey=MISSING, assignee="x").error, NotFound)


@pytest.mark.parametrize("assignee", ["", "a" * 256, "a\0b", 7, None])
def test_a_bad_assignee_is_refused_on_decode(assignee: object) -> None:
    with pytest.raises(BadRequest):
        from_wire({"type": "assign_job", "jobKey": 5, "assignee": assignee})


def test_delete_variable_removes_it_from_the_process_scope_or_the_scope_an_element_sees() -> None:
    h = Harness()
    inner = start("s2") + service("t", "work", inputs={"local": "=1"}) + chain("s2", "t")
    body = start() + sub("inner", inner) + end() + chain("start", "inner", "end")
    key = h.start(bpmn(body, "p"), {"a": 1, "b": 2})
    h.ok("delete_variable", processInstanceKey=key, name="a")
    assert h.instance(key)["variables"] == {"b": 2}
    task_ei = h.job(key, "t")["elementInstanceKey"]
    h.ok("delete_variable", processInstanceKey=key, name="local", elementInstanceKey=task_ei)
    [task] = [e for e in h.instance(key)["activeElementInstances"] if e["elementId"] == "t"]
    assert "variables" not in task
    h.ok("delete_variable", processInstanceKey=key, name="b", elementInstanceKey=task_ei)
    assert h.instance(key)["variables"] == {}
    missing = h.apply("delete_variable", processInstanceKey=key, name="b")
    assert isinstance(missing.error, NotFound) and "variable 'b'" in missing.error.message
    unknown_scope = h.apply(
        "delete_variable", processInstanceKey=key, name="x", elementInstanceKey=MISSING
    )
    assert isinstance(unknown_scope.error, NotFound)
    h.ok("cancel_instance", processInstanceKey=key)
    ended = h.apply("delete_variable", processInstanceKey=key, name="x")
    assert isinstance(ended.error, InvalidState)


def test_the_new_records_round_trip_through_their_wire_form() -> None:
    for record in (
        AssignJob(job_key=5, assignee="john"),
        DeleteVariable(process_instance_key=5, name="x"),
        DeleteVariable(process_instance_key=5, name="x", element_instance_key=6),
    ):
        assert from_wire(to_wire(record)) == record
    with pytest.raises(BadRequest):
        from_wire({"type": "delete_variable", "processInstanceKey": 5, "name": ""})


def test_history_of_a_multi_instance_task_and_of_a_retried_incident() -> None:
    from .test_call_and_loops import mi_task

    h = Harness()
    key = h.start(
        bpmn(start() + mi_task(False) + end() + chain("start", "t", "end")), {"items": [1, 2]}
    )
    rows = _history(h, key)
    assert [(r["elementType"], r["state"]) for r in rows] == [
        ("startEvent", "completed"),
        ("multiInstanceBody", "active"),
        ("multiInstanceIteration", "active"),
        ("multiInstanceIteration", "active"),
        ("serviceTask", "active"),
        ("serviceTask", "active"),
    ]
    body, first, second = rows[1]["key"], rows[2]["key"], rows[3]["key"]
    assert {r["scopeKey"] for r in rows[4:]} == {first, second}  # each task in its iteration
    assert rows[2]["scopeKey"] == body
    for job in h.active_jobs(key):
        h.ok("complete_job", jobKey=job["key"])
    assert [r["state"] for r in _history(h, key)] == ["completed"] * 7
    assert _history(h, key)[-1]["elementId"] == "end"

    bad = bpmn(
        start() + gateway("gw") + end() + chain("start", "gw") + flow("c", "gw", "end", "=x > 1")
    )
    key = h.start(bad)
    [parked] = [r for r in _history(h, key) if r["elementId"] == "gw"]
    assert parked["state"] == "active"  # stopped at its incident
    h.ok("set_variables", processInstanceKey=key, variables={"x": 2})
    h.ok("resolve_incident", incidentKey=h.open_incidents(key)[0]["key"])
    gateway_rows = [r for r in _history(h, key) if r["elementId"] == "gw"]
    assert [r["state"] for r in gateway_rows] == ["terminated", "completed"]  # retried anew
