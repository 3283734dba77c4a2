"""Internal job handlers (`@node.task_handler`) on a real node: run, fail, catch, recover."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import bpmn
from support.nodes import NodeThread, node_config
from support.waits import wait_until

from zennode import JobError, Node


def instance_state(runner: NodeThread, key: int) -> str:
    return runner.call(runner.node.service.get_instance(key))["state"]


def deploy_and_start(runner: NodeThread, xml: str, process_id: str, **variables: Any) -> int:
    runner.call(runner.node.service.deploy(xml.encode()))
    result = runner.call(
        runner.node.service.create_instance(bpmn_process_id=process_id, variables=variables)
    )
    return result["processInstanceKey"]


def test_handler_result_completes_the_job_and_the_process_runs_to_the_end(
    start_node: Callable[..., NodeThread],
) -> None:
    seen: list[dict[str, Any]] = []

    def setup(node: Node) -> None:
        @node.task_handler("compute-total")
        def compute(job: dict[str, Any]) -> dict[str, Any]:
            seen.append(job)
            return {"total": job["variables"]["price"] * job["variables"]["quantity"]}

    runner = start_node(partitions=2, setup=setup)
    xml = bpmn.handler_then_gateway("handled-order", "compute-total")
    keys = [deploy_and_start(runner, xml, "handled-order", price=60, quantity=q) for q in (1, 2)]
    for key in keys:
        wait_until(lambda key=key: instance_state(runner, key) == "completed", 10.0, "completion")
    totals = sorted(
        runner.call(runner.node.service.get_instance(k))["variables"]["total"] for k in keys
    )
    assert totals == [60, 120]
    assert {job["type"] for job in seen} == {"compute-total"}
    assert {job["processInstanceKey"] for job in seen} == set(keys)


def test_job_error_code_is_caught_by_the_error_boundary(
    start_node: Callable[..., NodeThread],
) -> None:
    def setup(node: Node) -> None:
        @node.task_handler("risky")
        def risky(job: dict[str, Any]) -> None:
            raise JobError("E_OUT_OF_STOCK", "nothing left")

    runner = start_node(setup=setup)
    key = deploy_and_start(
        runner,
        bpmn.task_with_error_boundary("risky-order", "risky", "E_OUT_OF_STOCK"),
        "risky-order",
    )

    def handled_job() -> list[dict[str, Any]]:
        page = runner.call(
            runner.node.service.list_jobs(process_instance_key=key, job_type="risky-handled")
        )
        return [job for part in page["partitions"] for job in part["items"]]

    (job,) = wait_until(handled_job, 10.0, "the boundary path's job")
    assert job["state"] == "active" and job["elementId"] == "handled"
    runner.call(runner.node.service.complete_job(job["key"], {}))
    assert instance_state(runner, key) == "completed"


def test_plain_exception_uses_retries_then_raises_an_incident(
    start_node: Callable[..., NodeThread],
) -> None:
    calls: list[int] = []

    def setup(node: Node) -> None:
        @node.task_handler("flaky")
        def flaky(job: dict[str, Any]) -> None:
            calls.append(job["retries"])
            raise ValueError("backend down")

    runner = start_node(setup=setup)
    key = deploy_and_start(runner, bpmn.one_task("flaky-order", "flaky", retries=2), "flaky-order")

    def incidents() -> list[dict[str, Any]]:
        page = runner.call(runner.node.service.list_incidents(process_instance_key=key))
        return [i for part in page["partitions"] for i in part["items"]]

    (incident,) = wait_until(incidents, 10.0, "an incident")
    assert "backend down" in incident["message"]
    assert calls == [2, 1]
    assert instance_state(runner, key) == "failed"


def test_a_new_leader_runs_jobs_that_were_waiting_before_it_started(tmp_path: Path) -> None:
    config = node_config(tmp_path / "node", partitions=1)
    first = NodeThread(Node(config, serve_http=False, serve_grpc=False))
    first.start()
    try:
        key = deploy_and_start(first, bpmn.one_task("late-order", "late-type"), "late-order")
        assert instance_state(first, key) == "active"
    finally:
        first.stop()

    ran = threading.Event()
    second_node = Node(config, serve_http=False, serve_grpc=False)

    @second_node.task_handler("late-type")
    def late(job: dict[str, Any]) -> dict[str, Any]:
        ran.set()
        return {"late": True}

    second = NodeThread(second_node)
    second.start()
    try:
        assert ran.wait(10), "the handler did not pick up the waiting job"
        wait_until(lambda: instance_state(second, key) == "completed", 10.0, "completion")
        assert second.call(second_node.service.get_instance(key))["variables"]["late"] is True
    finally:
        second.stop()


def test_a_job_in_retry_back_off_runs_only_when_the_back_off_ends(
    start_node: Callable[..., NodeThread],
) -> None:
    runner = start_node()
    node = runner.node
    key = deploy_and_start(runner, bpmn.one_task("backoff-order", "backoff-type"), "backoff-order")
    page = runner.call(node.service.list_jobs(process_instance_key=key))
    (job,) = [j for part in page["partitions"] for j in part["items"]]
    failed_at = time.monotonic()
    runner.call(node.service.fail_job(job["key"], retries=2, message="later", retry_backoff_ms=800))

    ran_at: list[float] = []

    @node.task_handler("backoff-type")  # registered on the running node: it looks for work
    def later(job: dict[str, Any]) -> dict[str, Any]:
        ran_at.append(time.monotonic())
        return {}

    wait_until(lambda: instance_state(runner, key) == "completed", 10.0, "completion")
    assert len(ran_at) == 1
    assert ran_at[0] - failed_at >= 0.75


UNTYPED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="untyped-order" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="task-a"/>
    <bpmn:sendTask id="task-b"/>
    <bpmn:serviceTask id="task-c">
      <bpmn:extensionElements><zeebe:taskDefinition type="typed-c"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task-a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="task-a" targetRef="task-b"/>
    <bpmn:sequenceFlow id="f3" sourceRef="task-b" targetRef="task-c"/>
    <bpmn:sequenceFlow id="f4" sourceRef="task-c" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_handlers_registered_by_element_id_run_tasks_without_a_task_definition(
    start_node: Callable[..., NodeThread],
) -> None:
    """ZenBPM's `NewTaskHandler().Id("task-a")`: the model (undeclared `zeebe:` prefix, tasks
    without task definition) runs on handlers chosen by element id; an element-id handler
    wins over the handler of the job's type."""
    seen: list[tuple[str, str]] = []

    def setup(node: Node) -> None:
        @node.task_handler(element_id="task-a")
        def a(job: dict[str, Any]) -> dict[str, Any]:
            seen.append((job["elementId"], job["type"]))
            return {"a": job["variables"]["n"] + 1}

        @node.task_handler(element_id="task-b")
        def b(job: dict[str, Any]) -> dict[str, Any]:
            seen.append((job["elementId"], job["type"]))
            return {"b": job["variables"]["a"] * 2}

        @node.task_handler(element_id="task-c")
        def c(job: dict[str, Any]) -> dict[str, Any]:
            seen.append((job["elementId"], job["type"]))
            return {"c": True}

        @node.task_handler("typed-c")
        def typed(job: dict[str, Any]) -> dict[str, Any]:
            raise AssertionError("the element-id handler must win")

    runner = start_node(setup=setup)
    key = deploy_and_start(runner, UNTYPED, "untyped-order", n=1)
    wait_until(lambda: instance_state(runner, key) == "completed", 10.0, "completion")
    variables = runner.call(runner.node.service.get_instance(key))["variables"]
    assert (variables["a"], variables["b"], variables["c"]) == (2, 4, True)
    assert seen == [
        ("task-a", "no-task-definition"),
        ("task-b", "no-task-definition"),
        ("task-c", "typed-c"),
    ]


def test_a_new_leader_runs_waiting_jobs_of_element_id_handlers(tmp_path: Path) -> None:
    config = node_config(tmp_path / "node", partitions=1)
    first = NodeThread(Node(config, serve_http=False, serve_grpc=False))
    first.start()
    try:
        key = deploy_and_start(first, UNTYPED, "untyped-order", n=1)
        assert instance_state(first, key) == "active"
    finally:
        first.stop()

    second_node = Node(config, serve_http=False, serve_grpc=False)
    for element_id in ("task-a", "task-b", "task-c"):
        second_node.task_handler(element_id=element_id)(lambda job: {"done": job["elementId"]})
    second = NodeThread(second_node)
    second.start()
    try:
        wait_until(lambda: instance_state(second, key) == "completed", 10.0, "completion")
        assert second.call(second_node.service.get_instance(key))["variables"]["done"] == "task-c"
    finally:
        second.stop()
