"""Timers: catch events, boundary events (interrupting or not, cycles), start events."""

from __future__ import annotations

import pytest
from support.bpmn import boundary, bpmn, chain, end, flow, service, start, timer_catch, timer_def

from zennode.engine import timers
from zennode.engine.engine import Engine
from zennode.engine.expressions import ExpressionFailed
from zennode.errors import BadRequest

from .helpers import Harness

S = 1000  # ms


def tick(h: Harness, now_ms: int) -> dict:
    result = h.ok("trigger_timers", now_ms=now_ms)
    h.now_ms = max(h.now_ms, now_ms)
    return result


def test_schedules() -> None:
    assert timers.schedule("duration", "PT15S", 1000) == timers.Schedule(16_000)
    assert timers.schedule("date", "1970-01-01T00:01:00Z", 0) == timers.Schedule(60_000)
    assert timers.schedule("cycle", "R3/PT10S", 0) == timers.Schedule(10_000, 2, 10_000)
    assert timers.schedule("cycle", "R/PT1S", 0).repetitions_left == timers.REPEAT_FOREVER
    first = timers.schedule("cycle", "R2/1970-01-01T00:00:05Z/PT1S", 0)
    assert first == timers.Schedule(5_000, 1, 1_000)
    assert timers.next_after(5_000, 1, 1_000) == timers.Schedule(6_000, 0, 1_000)
    assert timers.next_after(6_000, 0, 1_000) is None
    # behind (fired at 60 s for a 5 s due): once, then from now, not a burst of 55
    assert timers.next_after(5_000, -1, 1_000, now_ms=60_000) == timers.Schedule(61_000, -1, 1_000)
    assert timers.next_after(5_000, -1, 1_000, now_ms=5_040) == timers.Schedule(6_000, -1, 1_000)
    for kind, bad in (("duration", "soon"), ("cycle", "every day"), ("date", "yesterday")):
        with pytest.raises(ExpressionFailed):
            timers.schedule(kind, bad, 0)


def test_intermediate_timer_waits_until_due() -> None:
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + timer_catch("wait", "duration", "PT10S")
            + end()
            + chain("start", "wait", "end")
        )
    )
    created = h.now_ms
    assert h.waiting_at(key) == ["wait"]
    assert tick(h, created + 9 * S)["fired"] == 0
    assert h.instance(key)["state"] == "active"
    assert tick(h, created + 10 * S)["fired"] == 1
    assert h.instance(key)["state"] == "completed"
    assert tick(h, created + 20 * S)["fired"] == 0  # fired once


def test_timer_from_feel_expression() -> None:
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + timer_catch("wait", "duration", "=delay")
            + end()
            + chain("start", "wait", "end")
        ),
        {"delay": "PT2S"},
    )
    tick(h, h.now_ms + 2 * S)
    assert h.instance(key)["state"] == "completed"


def test_bad_timer_expression_is_an_incident() -> None:
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + timer_catch("wait", "duration", "=delay")
            + end()
            + chain("start", "wait", "end")
        ),
        {"delay": "later"},
    )
    [incident] = h.open_incidents(key)
    assert incident["elementId"] == "wait" and incident["errorType"] == "EXTRACT_VALUE_ERROR"


def _task_with_timer(interrupting: bool, value: str, kind: str = "duration") -> str:
    return bpmn(
        start()
        + service("task", "work")
        + boundary("late", "task", timer_def(kind, value), interrupting)
        + service("escalate", "escalate")
        + end()
        + end("end2")
        + chain("start", "task", "end")
        + flow("f_late", "late", "escalate")
        + flow("f_esc", "escalate", "end2")
    )


def test_interrupting_timer_boundary_terminates_the_job_and_refuses_late_completion() -> None:
    h = Harness()
    key = h.start(_task_with_timer(True, "PT5S"))
    job = h.job(key, "task")
    tick(h, h.now_ms + 5 * S)
    assert h.waiting_at(key) == ["escalate"]
    assert [j["state"] for j in h.jobs(key) if j["key"] == job["key"]] == ["terminated"]
    late = h.apply("complete_job", jobKey=job["key"], variables={})
    assert late.error is not None and type(late.error).__name__ == "InvalidState"
    h.complete(key, "escalate")
    assert h.instance(key)["state"] == "completed"


def test_completed_task_closes_its_boundary_timer() -> None:
    h = Harness()
    key = h.start(_task_with_timer(True, "PT5S"))
    h.complete(key, "task")
    assert h.instance(key)["state"] == "completed"
    assert tick(h, h.now_ms + 60 * S)["fired"] == 0
    assert not h.store.tables["timers"]


def test_non_interrupting_cycle_fires_repeatedly_while_the_task_waits() -> None:
    h = Harness()
    key = h.start(_task_with_timer(False, "R3/PT10S", kind="cycle"))
    t0 = h.now_ms
    for n in range(1, 5):
        tick(h, t0 + n * 10 * S)
        escalations = [j for j in h.active_jobs(key) if j["elementId"] == "escalate"]
        assert len(escalations) == min(n, 3)
        assert h.job(key, "task")["state"] == "active"  # the task keeps its job
    h.complete(key, "task")
    for job in [j for j in h.active_jobs(key) if j["elementId"] == "escalate"]:
        h.ok("complete_job", jobKey=job["key"], variables={})
    assert h.instance(key)["state"] == "completed"


def test_a_leader_that_was_away_fires_an_overdue_timer_once() -> None:
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + timer_catch("wait", "duration", "PT1S")
            + service("t", "w")
            + end()
            + chain("start", "wait", "t", "end")
        )
    )
    assert tick(h, h.now_ms + 3600 * S)["fired"] == 1
    assert tick(h, h.now_ms + 3601 * S)["fired"] == 0
    assert len(h.active_jobs(key)) == 1


def test_timer_start_event_cycle_creates_instances_on_the_deployment_partition() -> None:
    xml = bpmn(
        f'<bpmn:startEvent id="start">{timer_def("cycle", "R2/PT1M")}</bpmn:startEvent>'
        + end()
        + chain("start", "end")
    )
    h = Harness()
    deployed = h.deploy(xml)
    t0 = h.now_ms
    assert tick(h, t0 + 60 * S)["fired"] == 1
    assert tick(h, t0 + 120 * S)["fired"] == 1
    assert tick(h, t0 + 180 * S)["fired"] == 0
    created = [e for e in h.events if e["event"] == "instance_created"]
    assert len(created) == 2
    assert all(e["processDefinitionKey"] == deployed["processDefinitionKey"] for e in created)
    # another partition receiving the same deployment arms no timer
    other = Harness(partition_id=2)
    other.ok(
        "deploy", xml=xml, assigned={"p": {"key": deployed["processDefinitionKey"], "version": 1}}
    )
    assert not other.store.tables["timers"]


def test_new_version_replaces_the_timer_start_of_the_old_one() -> None:
    h = Harness()
    h.deploy(
        bpmn(
            f'<bpmn:startEvent id="start">{timer_def("duration", "PT1M")}</bpmn:startEvent>'
            + end()
            + chain("start", "end")
        )
    )
    h.deploy(
        bpmn(
            f'<bpmn:startEvent id="start">{timer_def("duration", "PT2M")}</bpmn:startEvent>'
            + end("e2")
            + chain("start", "e2")
        )
    )
    assert len(h.store.tables["timers"]) == 1
    assert tick(h, h.now_ms + 60 * S)["fired"] == 0
    assert tick(h, h.now_ms + 120 * S)["fired"] == 1


def test_cancel_closes_timers() -> None:
    h = Harness()
    key = h.start(_task_with_timer(False, "R/PT1S", kind="cycle"))
    h.ok("cancel_instance", processInstanceKey=key)
    assert not h.store.tables["timers"]


def test_cron_cycles() -> None:
    monday_9 = timers.parse_date("2024-01-01T09:00:00Z")  # a Monday
    first = timers.schedule("cycle", "0 0 9 * * MON-FRI", monday_9)
    assert first.due_ms == timers.parse_date("2024-01-02T09:00:00Z") and first.cron
    record = {"due": first.due_ms, "cron": first.cron, "repetitionsLeft": -1, "interval": 0}
    friday = timers.parse_date("2024-01-05T09:00:00Z")
    after_friday = timers.following({**record, "due": friday}, friday)
    assert after_friday is not None
    assert after_friday.due_ms == timers.parse_date("2024-01-08T09:00:00Z")  # skips the weekend
    every_15 = timers.schedule("cycle", "*/15 * * * *", timers.parse_date("2024-03-01T10:07:00Z"))
    assert every_15.due_ms == timers.parse_date("2024-03-01T10:15:00Z")
    nth = timers.schedule("cycle", "0 30 8 1,15 JAN ?", timers.parse_date("2024-01-02T00:00:00Z"))
    assert nth.due_ms == timers.parse_date("2024-01-15T08:30:00Z")
    for bad in ("0 0 L * * *", "0 0 9 * * MON#2", "61 * * * * *", "0 0 9 30 2 *"):
        with pytest.raises(ExpressionFailed):
            timers.schedule("cycle", bad, 0)


def test_cron_timer_start_event_fires_on_schedule() -> None:
    h = Harness()
    h.now_ms = timers.parse_date("2024-01-01T00:00:00Z")
    h.deploy(
        bpmn(
            f'<bpmn:startEvent id="start">{timer_def("cycle", "0 0 12 * * *")}</bpmn:startEvent>'
            + end()
            + chain("start", "end")
        )
    )
    noon = timers.parse_date("2024-01-01T12:00:00Z")
    assert tick(h, noon - 1)["fired"] == 0
    assert tick(h, noon)["fired"] == 1
    assert tick(h, noon + 3600 * S)["fired"] == 0
    assert tick(h, noon + 24 * 3600 * S)["fired"] == 1


# A timer start whose validity depends on the time it is evaluated at: before 2000 it is a
# duration, after it a text no timer accepts.
BY_THE_CLOCK = bpmn(
    '<bpmn:startEvent id="start">'
    + timer_def(
        "duration", '=if now() < date and time("2000-01-01T00:00:00Z") then "PT1H" else "never"'
    )
    + "</bpmn:startEvent>"
    + end()
    + chain("start", "end")
)
IN_2026 = 1_796_000_000_000  # ms, December 2026


@pytest.mark.parametrize("now_ms", [0, IN_2026])
def test_the_deploy_check_agrees_with_the_deploy_command_at_the_same_time(now_ms) -> None:
    """`Engine.validate_deploy` (the up-front check of a deploy call) evaluates timers at the
    time it is given; it used to use time 0, accepting what the command, at its own time,
    refuses (the call's earlier resources were then stored: a partial deployment)."""
    outcome = Harness().apply("deploy", xml=BY_THE_CLOCK, now_ms=now_ms)
    try:
        Engine(1).validate_deploy(BY_THE_CLOCK, now_ms)
        accepted = True
    except BadRequest as exc:
        assert outcome.error is not None and str(outcome.error) == str(exc)
        accepted = False
    assert accepted == (outcome.error is None) == (now_ms == 0)


def test_a_copy_of_a_deployment_does_not_evaluate_its_timers_again() -> None:
    """Partition 1 checked and armed the timer start at its time; the copy that another
    partition applies later (`assigned`) stores the definition whatever its own time."""
    h = Harness()
    deployed = h.ok("deploy", xml=BY_THE_CLOCK, now_ms=0)
    other = Harness(partition_id=2)
    assigned = {"p": {"key": deployed["processDefinitionKey"], "version": 1}}
    copy = other.ok("deploy", xml=BY_THE_CLOCK, assigned=assigned, now_ms=IN_2026)
    assert copy["processDefinitionKey"] == deployed["processDefinitionKey"]
    assert not other.store.tables["timers"]


# ------------------------------------------------------------------ the edges of the calendar

DEC_2026 = timers.parse_date("2026-12-05T00:00:00Z")


def test_a_years_duration_up_to_the_year_9999_is_exact() -> None:
    assert timers.duration_ms("P7972Y", DEC_2026) == (
        timers.parse_date("9998-12-05T00:00:00Z") - DEC_2026
    )
    assert timers.parse_date("9999-12-31T23:59:59.999Z") == timers.DUE_MS_MAX


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("duration", "P7990Y"),  # year 10016: was "negative" (the year wrapped round to 2016)
        ("duration", "P8000Y"),  # year 10026: was a due time in 2026, firing at once
        ("duration", "P999999999Y"),
        ("duration", "PT99999999999999999H"),  # was a due time no 8-byte key can hold
        ("duration", "P9999999999999999D"),
        ("cycle", "R5/P8000Y"),
        ("cycle", "R5/PT99999999999999999H"),
        ("date", "10000-01-01T00:00:00Z"),  # was a due time in 2000
        ("date", "999999999-01-01T00:00:00Z"),
        ("cycle", "R2/10000-01-01T00:00:00Z/PT1H"),
    ],
)
def test_a_timer_due_after_the_year_9999_leaves_the_calendar(kind: str, text: str) -> None:
    with pytest.raises(ExpressionFailed, match="leaves the calendar"):
        timers.schedule(kind, text, DEC_2026)


def test_a_feel_date_past_the_year_9999_is_an_incident_not_a_wrong_time() -> None:
    h = Harness()
    later = '=date and time("2026-12-05T00:00:00Z") + duration("P7990Y")'
    key = h.start(
        bpmn(start() + timer_catch("wait", "date", later) + end() + chain("start", "wait", "end"))
    )
    [incident] = h.open_incidents(key)
    assert "'10016-12-05T00:00:00Z' leaves the calendar" in incident["message"]
    assert tick(h, h.now_ms + 1)["nextDue"] is None


def test_a_date_before_1970_is_due_at_once() -> None:
    """Its due time was negative: the 8-byte key of the timer could not hold it and the
    command failed (an exception in the replicated state machine)."""
    h = Harness()
    key = h.start(
        bpmn(
            start()
            + timer_catch("wait", "date", "1960-01-01T00:00:00Z")
            + end()
            + chain("start", "wait", "end")
        )
    )
    assert tick(h, h.now_ms)["fired"] == 1
    assert h.instance(key)["state"] == "completed"


def test_a_cycle_ends_when_its_next_firing_leaves_the_calendar() -> None:
    last = timers.DUE_MS_MAX - 1000
    assert timers.next_after(last, timers.REPEAT_FOREVER, 1000) == timers.Schedule(
        timers.DUE_MS_MAX, timers.REPEAT_FOREVER, 1000
    )
    assert timers.next_after(timers.DUE_MS_MAX, timers.REPEAT_FOREVER, 1000) is None


def test_a_timer_start_that_leaves_the_calendar_is_refused_at_deploy() -> None:
    xml = bpmn(
        '<bpmn:startEvent id="start">'
        + timer_def("duration", "P7990Y")
        + "</bpmn:startEvent>"
        + end()
        + chain("start", "end")
    )
    outcome = Harness().apply("deploy", xml=xml, now_ms=DEC_2026)
    assert isinstance(outcome.error, BadRequest)
    assert "leaves the calendar" in str(outcome.error)
