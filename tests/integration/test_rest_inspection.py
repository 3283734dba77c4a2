"""Inspection routes (issue 16) against a real node: an instance's history, jobs, incidents,
children and event subscriptions; job assignment; deleting a variable; all in the OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import bpmn as b
from support.nodes import NodeThread, node_config
from support.rest import RestClient

from zennode.engine.keys import make_key
from zennode.node import Node

PARTITIONS = 2
MISSING = make_key(1, 2**40)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestClient]:
    runner = NodeThread(Node(node_config(tmp_path_factory.mktemp("insp"), PARTITIONS)))
    runner.start()
    try:
        with RestClient(base_url=runner.url) as client:
            yield client
    finally:
        runner.stop()


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _deploy(api: RestClient, xml: str) -> None:
    headers = {"content-type": "application/xml"}
    assert api.call("POST", "/v1/process-definitions", content=xml, headers=headers).is_success


def _start(api: RestClient, process_id: str, variables: dict[str, Any] | None = None) -> int:
    body = {"bpmnProcessId": process_id, "variables": variables or {}}
    return _ok(api.call("POST", "/v1/process-instances", json=body), 201)["processInstanceKey"]


def _waiting_model() -> str:
    body = b.start() + b.gateway("fork", "parallel") + b.service("task", "insp-work", retries="1")
    body += b.message_catch("wait", "msg") + b.end("e1") + b.end("e2")
    body += b.boundary("late", "task", b.timer_def("duration", "PT1H")) + b.end("e3")
    body += b.chain("start", "fork") + b.flow("a", "fork", "task") + b.flow("c", "fork", "wait")
    body += b.flow("d", "task", "e1") + b.flow("e", "wait", "e2") + b.flow("g", "late", "e3")
    return b.bpmn(body, "insp", errors=b.message("msg", "insp-paid", "=orderId"))


def test_history_jobs_incidents_and_subscriptions_of_an_instance(api: RestClient) -> None:
    _deploy(api, _waiting_model())
    key = _start(api, "insp", {"orderId": "o-7"})
    history = _ok(api.get(f"/v1/process-instances/{key}/history", params={"size": 100}))
    assert [(i["elementId"], i["state"]) for i in history["items"]] == [
        ("start", "completed"),
        ("fork", "completed"),
        ("task", "active"),
        ("wait", "active"),
    ]
    assert history["totalCount"] == 4 and history["truncated"] is False
    assert history["items"][0]["createdAt"].endswith("+00:00")
    assert history["items"][0]["endedAt"] == history["items"][0]["createdAt"]

    jobs = _ok(api.get(f"/v1/process-instances/{key}/jobs"))
    assert jobs["totalCount"] == 1 and jobs["items"][0]["elementId"] == "task"
    job_key = jobs["items"][0]["key"]
    subs = _ok(api.get(f"/v1/process-instances/{key}/event-subscriptions"))
    assert {s["type"] for s in subs["items"]} == {"message", "timer"}
    [message] = [s for s in subs["items"] if s["type"] == "message"]
    assert message["messageName"] == "insp-paid" and message["correlationKey"] == "o-7"
    timers = _ok(
        api.get(f"/v1/process-instances/{key}/event-subscriptions", params={"type": "timer"})
    )
    assert timers["count"] == 1 and timers["items"][0]["elementId"] == "late"
    assert "T" in timers["items"][0]["dueDate"]

    fail = api.call("POST", f"/v1/jobs/{job_key}/fail", json={"retries": 0, "message": "boom"})
    assert fail.status_code == 204, fail.text
    incidents = _ok(api.get(f"/v1/process-instances/{key}/incidents"))
    assert incidents["totalCount"] == 1 and incidents["items"][0]["jobKey"] == job_key
    resolved = _ok(api.get(f"/v1/process-instances/{key}/incidents", params={"state": "resolved"}))
    assert resolved["totalCount"] == 0

    assert api.call("POST", f"/v1/process-instances/{key}/cancel").status_code == 204
    history = _ok(api.get(f"/v1/process-instances/{key}/history", params={"size": 100}))
    assert {i["elementId"]: i["state"] for i in history["items"]}["task"] == "terminated"
    assert _ok(api.get(f"/v1/process-instances/{key}/event-subscriptions"))["totalCount"] == 0


def test_child_processes_of_a_call_activity(api: RestClient) -> None:
    _deploy(api, b.one_task("insp-child", "insp-child-work"))
    _deploy(api, b.calling("insp-parent", "insp-child"))
    parent = _start(api, "insp-parent")
    children = _ok(api.get(f"/v1/process-instances/{parent}/child-processes"))
    assert children["totalCount"] == 1
    child = children["items"][0]
    assert child["parentProcessInstanceKey"] == parent and child["state"] == "active"
    assert child["bpmnProcessId"] == "insp-child"
    history = _ok(api.get(f"/v1/process-instances/{parent}/history"))
    [call] = [i for i in history["items"] if i["elementId"] == "call"]
    assert call["elementType"] == "callActivity" and call["state"] == "active"


def test_assign_a_job_and_find_it_by_assignee(api: RestClient) -> None:
    _deploy(api, b.one_task("insp-assign", "insp-assign-work"))
    key = _start(api, "insp-assign")
    [job] = _ok(api.get(f"/v1/process-instances/{key}/jobs"))["items"]
    assert "assignee" not in job
    assigned = api.call("POST", f"/v1/jobs/{job['key']}/assign", json={"assignee": "john.doe"})
    assert assigned.status_code == 204, assigned.text
    assert _ok(api.get(f"/v1/jobs/{job['key']}"))["assignee"] == "john.doe"
    found = _ok(api.get("/v1/jobs", params={"assignee": "john.doe"}))
    assert [j["key"] for p in found["partitions"] for j in p["items"]] == [job["key"]]
    assert api.post(f"/v1/jobs/{job['key']}/assign", json={"assignee": ""}).status_code == 400
    assert api.post(f"/v1/jobs/{job['key']}/assign", json={}).status_code == 400
    done = api.call("POST", f"/v1/jobs/{job['key']}/complete", json={})
    assert done.status_code == 204, done.text
    ended = api.post(f"/v1/jobs/{job['key']}/assign", json={"assignee": "mary"})
    assert ended.status_code == 409 and "completed" in ended.json()["message"]
    missing = api.post(f"/v1/jobs/{MISSING}/assign", json={"assignee": "mary"})
    assert missing.status_code == 404 and "job" in missing.json()["message"]


def test_delete_a_variable_with_an_idempotency_key(api: RestClient) -> None:
    _deploy(api, b.one_task("insp-vars", "insp-vars-work"))
    key = _start(api, "insp-vars", {"keep": 1, "drop": 2})
    url = f"/v1/process-instances/{key}/variables/drop"
    headers = {"Idempotency-Key": f"del-{key}"}
    first = api.delete(url, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"processInstanceKey": key}
    again = api.delete(url, headers=headers)  # the repeat gets the first answer
    assert again.status_code == 200 and again.json() == first.json()
    assert _ok(api.get(f"/v1/process-instances/{key}"))["variables"] == {"keep": 1}
    gone = api.delete(url)
    assert gone.status_code == 404 and "variable 'drop'" in gone.json()["message"]
    [job] = _ok(api.get(f"/v1/process-instances/{key}/jobs"))["items"]
    scoped = api.delete(
        f"/v1/process-instances/{key}/variables/keep",
        params={"elementInstanceKey": job["elementInstanceKey"]},
    )
    assert scoped.status_code == 200, scoped.text
    assert _ok(api.get(f"/v1/process-instances/{key}"))["variables"] == {}
    unknown_scope = api.delete(url, params={"elementInstanceKey": MISSING})
    assert unknown_scope.status_code == 404


@pytest.mark.parametrize(
    "path", ["history", "jobs", "incidents", "child-processes", "event-subscriptions"]
)
def test_unknown_instance_is_a_404_with_a_message(api: RestClient, path: str) -> None:
    response = api.get(f"/v1/process-instances/{MISSING}/{path}")
    assert response.status_code == 404
    assert response.json()["message"] == f"process instance {MISSING} not found"


def test_unknown_instance_variable_delete_is_a_404(api: RestClient) -> None:
    response = api.delete(f"/v1/process-instances/{MISSING}/variables/x")
    assert response.status_code == 404 and "process instance" in response.json()["message"]


def test_the_routes_are_in_the_openapi_document_with_their_models(api: RestClient) -> None:
    paths = _ok(api.get("/v1/openapi.json"))["paths"]
    base = "/v1/process-instances/{processInstanceKey}"
    for path, method in [
        (f"{base}/history", "get"),
        (f"{base}/jobs", "get"),
        (f"{base}/incidents", "get"),
        (f"{base}/child-processes", "get"),
        (f"{base}/event-subscriptions", "get"),
        (f"{base}/variables/{{variableName}}", "delete"),
        ("/v1/jobs/{jobKey}/assign", "post"),
    ]:
        operation = paths[path][method]
        assert operation["summary"]
        ok = operation["responses"].get("200") or operation["responses"]["204"]
        if method == "get":
            assert ok["content"]["application/json"]["schema"]["$ref"].endswith("Page")
    assert any(p["name"] == "assignee" for p in paths["/v1/jobs"]["get"]["parameters"])


def test_the_definition_detail_carries_the_bpmn_xml(api: RestClient) -> None:
    _deploy(api, b.one_task("insp-xml", "insp-xml-work"))
    listed = _ok(api.get("/v1/process-definitions", params={"bpmnProcessId": "insp-xml"}))
    key = listed["items"][0]["processDefinitionKey"]
    assert 'id="insp-xml"' in _ok(api.get(f"/v1/process-definitions/{key}"))["xml"]
