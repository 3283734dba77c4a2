"""Corpus models whose behaviour is known (ZenBPM's own test cases) run the way they should."""

from __future__ import annotations

import pytest
from engine.helpers import Harness

from .test_corpus_deploy import CORPUS

ZENBPM = CORPUS / "zenbpm"

pytestmark = pytest.mark.skipif(not ZENBPM.is_dir(), reason=f"no corpus at {CORPUS}")


def start(h: Harness, name: str, variables: dict | None = None) -> int:
    return h.start((ZENBPM / name).read_text(encoding="utf-8"), variables)


def test_inclusive_split_join_waits_for_the_chosen_branches(h: Harness) -> None:
    key = start(h, "inclusive-gateway-split-join.bpmn", {"routeA": True, "routeC": True})
    assert h.waiting_at(key) == ["service_task_a", "service_task_c"]
    h.complete(key, "service_task_a")
    assert h.waiting_at(key) == ["service_task_c"]
    h.complete(key, "service_task_c")
    assert h.waiting_at(key) == ["service_task_after_join"]
    h.complete(key, "service_task_after_join")
    assert h.instance(key)["state"] == "completed"
    other = start(h, "inclusive-gateway-split-join.bpmn", {})
    assert h.waiting_at(other) == ["service_task_default"]


def test_uncontrolled_join_runs_the_next_task_once_per_token(h: Harness) -> None:
    key = start(h, "fork-uncontrolled-join.bpmn")
    h.complete(key, "id-a-1")
    h.complete(key, "id-a-2")
    assert h.waiting_at(key) == ["id-b-1", "id-b-1"]


def test_controlled_join_runs_the_next_task_once(h: Harness) -> None:
    key = start(h, "fork-controlled-parallel-join.bpmn")
    h.complete(key, "id-a-1")
    assert h.waiting_at(key) == ["id-a-2"]
    h.complete(key, "id-a-2")
    h.complete(key, "id-b-1")
    assert h.instance(key)["state"] == "completed"


def test_terminate_end_completes_the_instance(h: Harness) -> None:
    key = start(h, "parallel_flow_with_terminate_end_task.bpmn")
    assert h.instance(key)["state"] == "completed"
    assert h.active_jobs(key) == []


def test_error_end_event_in_sub_process_is_caught_by_its_boundary(h: Harness) -> None:
    key = start(h, "simple_sub_process_task_with_error_end_event_and_matching_error_boundary.bpmn")
    assert h.instance(key)["state"] == "completed"
    assert h.open_incidents(key) == []


@pytest.mark.parametrize(("price", "task"), [(5, "task-a"), (0, "task-b")])
def test_exclusive_gateway_condition_and_default(h: Harness, price: int, task: str) -> None:
    key = start(h, "exclusive-gateway-with-condition-and-default.bpmn", {"price": price})
    assert h.waiting_at(key) == [task]


def test_service_task_input_output_mappings(h: Harness) -> None:
    key = start(h, "service-task-input-output.bpmn", {"testVar": 1})
    [job] = h.active_jobs(key)
    assert job["variables"] == {"name": "task-1", "id": 1, "city": "beijing"}
    h.ok("complete_job", jobKey=job["key"], variables={"ignored": True})
    variables = h.instance(key)["variables"]
    # outputs see the task's inputs (city) as local variables; unmapped results stay out
    assert variables == {
        "testVar": 1,
        "order": {"name": "order1", "id": "1234"},
        "orderId": 1234,
        "dstcity": "beijing",
    }
