"""The REST API against a real node (engine + Raft partitions + LMDB) on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import bpmn
from support.nodes import NodeThread, node_config
from support.waits import wait_until

from zennode.engine.keys import make_key
from zennode.node import Node

PARTITIONS = 2
REQUEST_BYTES_MAX = 256 * 1024
VARIABLES_BYTES_MAX = 8 * 1024


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    config = node_config(
        tmp_path_factory.mktemp("rest"),
        PARTITIONS,
        request_bytes_max=REQUEST_BYTES_MAX,
        variables_bytes_max=VARIABLES_BYTES_MAX,
    )
    runner = NodeThread(Node(config, serve_grpc=False))
    runner.start()
    try:
        with httpx.Client(base_url=runner.url, timeout=15.0) as client:
            yield client
    finally:
        runner.stop()


def deploy(api: httpx.Client, xml: str) -> dict[str, Any]:
    response = api.post(
        "/v1/process-definitions", content=xml, headers={"content-type": "application/xml"}
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def start(api: httpx.Client, process_id: str, variables: dict[str, Any] | None = None) -> int:
    response = api.post(
        "/v1/process-instances",
        json={"bpmnProcessId": process_id, "variables": variables or {}},
    )
    assert response.status_code == 201, response.text
    return response.json()["processInstanceKey"]


def jobs_of(api: httpx.Client, instance_key: int, state: str | None = None) -> list[dict]:
    params: dict[str, Any] = {"processInstanceKey": instance_key}
    if state:
        params["state"] = state
    response = api.get("/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    return [job for part in response.json()["partitions"] for job in part["items"]]


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"code", "message"}, body
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body


# ------------------------------------------------------------------ documents


def test_openapi_document_and_docs_are_served(api: httpx.Client) -> None:
    document = api.get("/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/v1/process-definitions",
        "/v1/process-definitions/{processDefinitionKey}",
        "/v1/process-instances",
        "/v1/process-instances/{processInstanceKey}",
        "/v1/process-instances/{processInstanceKey}/cancel",
        "/v1/jobs",
        "/v1/jobs/{jobKey}",
        "/v1/jobs/{jobKey}/complete",
        "/v1/jobs/{jobKey}/fail",
        "/v1/jobs/{jobKey}/retries",
        "/v1/process-instances/{processInstanceKey}/variables",
        "/v1/incidents",
        "/v1/incidents/{incidentKey}",
        "/v1/incidents/{incidentKey}/resolve",
    ):
        assert path in paths, path
    deploy_body = paths["/v1/process-definitions"]["post"]["requestBody"]["content"]
    assert {"application/xml", "multipart/form-data"} <= set(deploy_body)
    assert "Job" in document["components"]["schemas"]
    for listing in ("JobPage", "IncidentPage"):  # counted up to a bound, then left out
        schema = document["components"]["schemas"][listing]
        assert "totalCount" not in schema.get("required", []), listing
        assert "stops at 10000" in schema["properties"]["totalCount"]["description"], listing
    operation_ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert {"deploy", "create_instance", "list_jobs", "complete_job"} <= set(operation_ids)
    docs = api.get("/v1/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_health_and_status(api: httpx.Client) -> None:
    assert api.get("/system/health/live").json() == {"status": "UP"}
    assert api.get("/system/health/ready").status_code == 200
    status = api.get("/system/status").json()
    assert status["ready"] is True
    assert [p["partition"] for p in status["partitions"]] == [1, 2]
    assert all(p["role"] == "leader" for p in status["partitions"])


# --------------------------------------------------------------------- deploy


def test_deploy_then_identical_content_returns_same_key(api: httpx.Client) -> None:
    xml = bpmn.one_task("rest-deploy", "rest-deploy-job", name="Task")
    first = api.post(
        "/v1/process-definitions", content=xml, headers={"content-type": "application/xml"}
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["bpmnProcessId"] == "rest-deploy" and body["version"] == 1
    again = api.post(
        "/v1/process-definitions", content=xml, headers={"content-type": "application/xml"}
    )
    assert again.status_code == 200 and again.json() == body
    multipart = api.post(
        "/v1/process-definitions", files={"resource": ("p.bpmn", xml, "application/xml")}
    )
    assert multipart.status_code == 200 and multipart.json() == body
    changed = api.post(
        "/v1/process-definitions",
        files={"resource": ("p.bpmn", xml.replace('name="Task"', 'name="Task 2"'))},
    )
    assert changed.status_code == 201, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["processDefinitionKey"] != body["processDefinitionKey"]
    version2 = api.get(f"/v1/process-definitions/{changed.json()['processDefinitionKey']}")
    assert version2.json()["resourceName"] == "p.bpmn"

    detail = api.get(f"/v1/process-definitions/{body['processDefinitionKey']}")
    assert detail.status_code == 200
    assert 'id="rest-deploy"' in detail.json()["xml"]
    listed = api.get("/v1/process-definitions", params={"size": 100}).json()
    keys = {d["processDefinitionKey"] for d in listed["items"]}
    assert {body["processDefinitionKey"], changed.json()["processDefinitionKey"]} <= keys


def test_deploy_answers_the_parser_warnings(api: httpx.Client) -> None:
    xml = bpmn.one_task("rest-warned", "rest-warned-job").replace(
        "</bpmn:process>", '<bpmn:sequenceFlow id="dangling"/></bpmn:process>'
    )
    body = deploy(api, xml)
    assert body["warnings"] == [
        "process rest-warned: sequence flow dangling has no source and no target: ignored"
    ]


def test_deploy_rejects_bad_models_with_400(api: httpx.Client) -> None:
    assert_error(
        api.post("/v1/process-definitions", content=b"<not-xml", headers={"content-type": "a/b"}),
        400,
    )
    assert_error(api.post("/v1/process-definitions", content=b""), 400)
    unsupported = api.post("/v1/process-definitions", content=bpmn.UNSUPPORTED)
    assert_error(unsupported, 400)
    assert "wait" in unsupported.json()["message"]
    assert "complexGateway" in unsupported.json()["message"]
    assert_error(api.post("/v1/process-definitions", files={"other": ("x", "y")}), 400)


# ------------------------------------------------------------- instances, jobs


def test_start_with_variables_and_complete_job(api: httpx.Client) -> None:
    deploy(api, bpmn.one_task("rest-complete", "rest-complete-job", headers={"kind": "test"}))
    key = start(api, "rest-complete", {"order": {"id": 7, "items": [1, 2]}, "name": "x"})
    patched = api.patch(f"/v1/process-instances/{key}/variables", json={"variables": {"z": 1}})
    assert patched.status_code == 204, patched.text
    instance = api.get(f"/v1/process-instances/{key}").json()
    assert instance["state"] == "active"
    assert instance["variables"]["order"] == {"id": 7, "items": [1, 2]}
    assert instance["variables"]["z"] == 1
    assert [e["elementId"] for e in instance["activeElementInstances"]] == ["task"]

    (job,) = jobs_of(api, key)
    assert job["type"] == "rest-complete-job" and job["state"] == "active"
    assert job["elementId"] == "task" and job["processInstanceKey"] == key
    assert job["retries"] == 3 and job["customHeaders"] == {"kind": "test"}
    assert job["variables"]["name"] == "x"
    assert api.get(f"/v1/jobs/{job['key']}").json()["key"] == job["key"]

    done = api.post(f"/v1/jobs/{job['key']}/complete", json={"variables": {"result": 42}})
    assert done.status_code == 204, done.text
    instance = api.get(f"/v1/process-instances/{key}").json()
    assert instance["state"] == "completed"
    assert instance["variables"]["result"] == 42
    assert instance["activeElementInstances"] == []
    # completing a completed job: wrong state
    assert_error(api.post(f"/v1/jobs/{job['key']}/complete", json={}), 409)


def test_instance_view_links_a_call_activity_and_its_child(api: httpx.Client) -> None:
    deploy(api, bpmn.one_task("rest-called", "rest-called-job"))
    deploy(api, bpmn.calling("rest-caller", "rest-called"))
    parent_key = start(api, "rest-caller")

    def waiting_call() -> dict[str, Any] | None:
        parent = api.get(f"/v1/process-instances/{parent_key}").json()
        calls = [e for e in parent["activeElementInstances"] if e["elementId"] == "call"]
        return calls[0] if calls and "childProcessInstanceKey" in calls[0] else None

    call = wait_until(waiting_call, 10.0, "the call activity waiting for its child")
    child_key = call["childProcessInstanceKey"]
    child = api.get(f"/v1/process-instances/{child_key}").json()
    assert child["bpmnProcessId"] == "rest-called"
    assert child["parentProcessInstanceKey"] == parent_key
    assert child["parentElementInstanceKey"] == call["elementInstanceKey"]
    parent = api.get(f"/v1/process-instances/{parent_key}").json()
    assert "parentProcessInstanceKey" not in parent  # a root instance: no nulls either

    (job,) = jobs_of(api, child_key)
    assert api.post(f"/v1/jobs/{job['key']}/complete", json={}).status_code == 204
    wait_until(
        lambda: api.get(f"/v1/process-instances/{parent_key}").json()["state"] == "completed",
        10.0,
        "the caller completed after its child",
    )


def test_variables_per_scope_and_the_local_flag(api: httpx.Client) -> None:
    deploy(api, bpmn.one_task("rest-scopes", "rest-scopes-job"))
    key = start(api, "rest-scopes", {"x": 1})
    (task,) = api.get(f"/v1/process-instances/{key}").json()["activeElementInstances"]
    assert task["scopeKey"] == key
    url = f"/v1/process-instances/{key}/variables"
    local = {"variables": {"x": 2}, "elementInstanceKey": task["elementInstanceKey"], "local": True}
    assert api.patch(url, json=local).status_code == 204
    propagated = {"variables": {"x": 3, "y": 4}, "elementInstanceKey": task["elementInstanceKey"]}
    assert api.patch(url, json=propagated).status_code == 204  # x: the task's own, y: new
    view = api.get(f"/v1/process-instances/{key}").json()
    assert view["variables"] == {"x": 1, "y": 4}
    assert view["activeElementInstances"][0]["variables"] == {"x": 3}
    other = start(api, "rest-scopes")
    wrong = {"variables": {"a": 1}, "elementInstanceKey": task["elementInstanceKey"]}
    assert_error(api.patch(f"/v1/process-instances/{other}/variables", json=wrong), 404)


def test_post_jobs_completes_like_the_original_api(api: httpx.Client) -> None:
    deploy(api, bpmn.one_task("rest-post-jobs", "rest-post-jobs-job"))
    key = start(api, "rest-post-jobs")
    (job,) = jobs_of(api, key)
    response = api.post("/v1/jobs", json={"jobKey": job["key"], "variables": {"via": "post"}})
    assert response.status_code == 204, response.text
    instance = api.get(f"/v1/process-instances/{key}").json()
    assert instance["state"] == "completed" and instance["variables"]["via"] == "post"


def test_list_jobs_pages_per_partition(api: httpx.Client) -> None:
    deploy(api, bpmn.one_task("rest-paging", "rest-paging-job"))
    keys = [start(api, "rest-paging", {"i": i}) for i in range(24)]
    by_partition = {1: 0, 2: 0}
    for key in keys:
        by_partition[key >> 51] += 1
    assert by_partition == {1: 12, 2: 12}  # round robin

    params = {"jobType": "rest-paging-job", "state": "active", "size": 10}
    page1 = api.get("/v1/jobs", params={**params, "page": 1}).json()
    assert [p["partition"] for p in page1["partitions"]] == [1, 2]
    assert [len(p["items"]) for p in page1["partitions"]] == [10, 10]
    assert page1["count"] == 20 and page1["totalCount"] == 24
    assert page1["page"] == 1 and page1["size"] == 10
    for part in page1["partitions"]:
        assert all(job["key"] >> 51 == part["partition"] for job in part["items"])
    page2 = api.get("/v1/jobs", params={**params, "page": 2}).json()
    assert [len(p["items"]) for p in page2["partitions"]] == [2, 2]
    seen = {j["key"] for page in (page1, page2) for p in page["partitions"] for j in p["items"]}
    assert len(seen) == 24
    instances = api.get("/v1/process-instances", params={"size": 3}).json()
    assert [len(p["items"]) for p in instances["partitions"]] == [3, 3]
    assert instances["totalCount"] >= 24


def test_fail_job_into_incident_then_resolve(api: httpx.Client) -> None:
    deploy(api, bpmn.one_task("rest-incident", "rest-incident-job", retries=2))
    key = start(api, "rest-incident")
    (job,) = jobs_of(api, key)

    failed = api.post(f"/v1/jobs/{job['key']}/fail", json={"message": "boom one"})
    assert failed.status_code == 204, failed.text
    job = api.get(f"/v1/jobs/{job['key']}").json()
    assert job["state"] == "active" and job["retries"] == 1  # retried

    assert api.post(f"/v1/jobs/{job['key']}/retries", json={"retries": 0}).status_code == 400
    assert api.post(f"/v1/jobs/{job['key']}/retries", json={"retries": 5}).status_code == 204
    assert api.get(f"/v1/jobs/{job['key']}").json()["retries"] == 5
    failed = api.post(f"/v1/jobs/{job['key']}/fail", json={"retries": 0, "message": "boom two"})
    assert failed.status_code == 204, failed.text
    assert api.get(f"/v1/jobs/{job['key']}").json()["state"] == "failed"
    assert api.get(f"/v1/process-instances/{key}").json()["state"] == "failed"

    incidents = api.get("/v1/incidents", params={"processInstanceKey": key}).json()
    (incident,) = [i for p in incidents["partitions"] for i in p["items"]]
    assert incident["processInstanceKey"] == key and incident["state"] == "active"
    assert "boom two" in incident["message"]

    assert api.get(f"/v1/incidents/{incident['key']}").json() == incident

    resolved = api.post(f"/v1/incidents/{incident['key']}/resolve")
    assert resolved.status_code == 204, resolved.text
    assert_error(api.post(f"/v1/incidents/{incident['key']}/resolve"), 409)
    job = wait_until(lambda: jobs_of(api, key, state="active"), 10.0, "job active again")[0]
    assert api.post(f"/v1/jobs/{job['key']}/complete", json={}).status_code == 204
    assert api.get(f"/v1/process-instances/{key}").json()["state"] == "completed"


def test_cancel_instance_terminates_its_job(api: httpx.Client) -> None:
    deploy(api, bpmn.one_task("rest-cancel", "rest-cancel-job"))
    key = start(api, "rest-cancel")
    (job,) = jobs_of(api, key)
    response = api.post(f"/v1/process-instances/{key}/cancel")
    assert response.status_code == 204, response.text
    assert api.get(f"/v1/process-instances/{key}").json()["state"] == "terminated"
    assert api.get(f"/v1/jobs/{job['key']}").json()["state"] == "terminated"
    assert_error(api.post(f"/v1/process-instances/{key}/cancel"), 409)
    assert_error(api.post(f"/v1/jobs/{job['key']}/complete", json={}), 409)


def test_every_read_takes_a_consistency(api: httpx.Client) -> None:
    """linearizable (the default) and local answer the same on a healthy node."""
    deploy(api, bpmn.one_task("consistency-flow", "consistency-work"))
    key = start(api, "consistency-flow")

    def first_job() -> dict[str, Any] | None:
        pages = api.get(f"/v1/jobs?processInstanceKey={key}").json()["partitions"]
        return next((job for page in pages for job in page["items"]), None)

    job = wait_until(first_job, 10, "the job")
    paths = [
        f"/v1/process-instances/{key}",
        "/v1/process-instances",
        f"/v1/jobs/{job['key']}",
        f"/v1/jobs?processInstanceKey={key}",
        "/v1/incidents",
        "/v1/process-definitions",
    ]
    for path in paths:
        sep = "&" if "?" in path else "?"
        default = api.get(path)
        assert default.status_code == 200, (path, default.text)
        for level in ("linearizable", "local"):
            response = api.get(f"{path}{sep}consistency={level}")
            assert response.status_code == 200, (path, level, response.text)
            assert response.json() == default.json(), (path, level)


# ------------------------------------------------------------------- errors


def test_unknown_keys_are_404(api: httpx.Client) -> None:
    unknown = make_key(1, (1 << 40) + 5)
    assert_error(api.get(f"/v1/jobs/{unknown}"), 404, "NOT_FOUND")
    assert_error(api.get(f"/v1/process-instances/{unknown}"), 404)
    assert_error(api.get(f"/v1/process-definitions/{unknown}"), 404)
    assert_error(api.post(f"/v1/jobs/{unknown}/complete", json={}), 404)
    assert_error(api.post(f"/v1/incidents/{unknown}/resolve"), 404)
    # a key of a partition that does not exist: 404 at once, not a hang
    assert_error(api.get(f"/v1/jobs/{make_key(9, 1)}"), 404)
    assert_error(api.post(f"/v1/process-instances/{make_key(9, 1)}/cancel"), 404)
    assert_error(api.get("/v1/no-such-thing"), 404)
    assert_error(api.post("/v1/process-instances", json={"bpmnProcessId": "never-deployed"}), 404)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/process-instances", b"{not json"),
        ("post", "/v1/process-instances", json.dumps({"bpmnProcessId": "x", "varz": {}})),
        ("post", "/v1/process-instances", json.dumps({})),
        ("post", "/v1/process-instances", json.dumps({"bpmnProcessId": "x", "variables": [1]})),
        (
            "post",
            "/v1/process-instances",
            json.dumps({"bpmnProcessId": "x", "processDefinitionKey": 1}),
        ),
        ("post", "/v1/jobs/abc/complete", json.dumps({})),
        ("post", "/v1/jobs/1/fail", json.dumps({"retries": -1})),
        ("post", "/v1/jobs", json.dumps({"variables": {}})),
        ("get", "/v1/jobs?page=0", None),
        ("get", "/v1/jobs?size=1000", None),
        ("get", "/v1/jobs?state=sleeping", None),
        ("get", "/v1/process-instances/12x", None),
        ("get", "/v1/process-instances?consistency=eventual", None),
    ],
)
def test_bad_input_is_400(api: httpx.Client, method: str, path: str, body: Any) -> None:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"content": body, "headers": {"content-type": "application/json"}}
    assert_error(api.request(method.upper(), path, **kwargs), 400, "BAD_REQUEST")


def test_oversized_bodies_are_413(api: httpx.Client) -> None:
    big = b"x" * (REQUEST_BYTES_MAX + 1)
    assert_error(api.post("/v1/process-definitions", content=big), 413, "TOO_LARGE")

    def chunks() -> Iterator[bytes]:
        for _ in range(REQUEST_BYTES_MAX // 1024 + 2):
            yield b"x" * 1024

    assert_error(api.post("/v1/process-definitions", content=chunks()), 413)
    variables = {"blob": "y" * (VARIABLES_BYTES_MAX + 1)}
    assert_error(
        api.post("/v1/process-instances", json={"bpmnProcessId": "x", "variables": variables}),
        413,
    )


def test_keep_alive_requests_do_not_wait_for_delayed_acks(api: httpx.Client) -> None:
    """Without TCP_NODELAY on the server socket every keep-alive response took ~40 ms."""
    import statistics
    import time

    timings = []
    for _ in range(20):
        began = time.perf_counter()
        assert api.get("/system/health/live").status_code == 200
        timings.append(time.perf_counter() - began)
    assert statistics.median(timings) < 0.025, timings
