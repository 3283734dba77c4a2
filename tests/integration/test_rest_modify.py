"""Instance modification over REST on a real node with two partitions: ZenBPM's
`/v1/modify/process-instance` (move a token, start inside a sub-process, terminate the last
token) and `/v1/modify/start-process-instance`, with their refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.bpmn import bpmn, chain, end, service, start, sub
from support.nodes import NodeThread
from support.rest import RestClient

XML = {"content-type": "application/xml"}
INNER = start("s_in") + service("inner", "I") + end("e_in") + chain("s_in", "inner", "e_in")
MODEL = bpmn(
    start()
    + service("first", "F")
    + sub("sp", INNER)
    + service("last", "L")
    + end()
    + chain("start", "first", "sp", "last", "end"),
    "modified",
)


def post(api: RestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = api.call("POST", path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def waiting(view: dict[str, Any]) -> list[str]:
    return sorted(e["elementId"] for e in view["activeElementInstances"])


def key_of(view: dict[str, Any], element_id: str) -> int:
    [key] = [
        e["elementInstanceKey"]
        for e in view["activeElementInstances"]
        if e["elementId"] == element_id
    ]
    return key


def jobs(api: RestClient, instance: int) -> dict[str, str]:
    response = api.call("GET", "/v1/jobs", params={"processInstanceKey": instance})
    assert response.status_code == 200, response.text
    return {j["elementId"]: j["state"] for p in response.json()["partitions"] for j in p["items"]}


def test_modify_and_start_at_elements_over_rest(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node(partitions=2))
    deployed = api.call("POST", "/v1/process-definitions", content=MODEL, headers=XML)
    assert deployed.status_code in (200, 201), deployed.text
    definition = deployed.json()["processDefinitionKey"]
    created = post(api, "/v1/process-instances", {"bpmnProcessId": "modified"}, 201)
    key = created["processInstanceKey"]
    view = api.call("GET", f"/v1/process-instances/{key}").json()

    # Move the token from `first` into the sub-process, with variables, in one request.
    view = post(
        api,
        "/v1/modify/process-instance",
        {
            "processInstanceKey": key,
            "variables": {"order": {"id": 7}},
            "elementInstancesToStart": [{"elementId": "inner", "variables": {"local": 1}}],
            "elementInstancesToTerminate": [{"elementInstanceKey": key_of(view, "first")}],
        },
    )
    assert view["state"] == "active" and waiting(view) == ["inner", "sp"]
    assert view["variables"] == {"order": {"id": 7}}
    sp = next(e for e in view["activeElementInstances"] if e["elementId"] == "sp")
    assert sp["variables"] == {"local": 1}
    assert jobs(api, key) == {"first": "terminated", "inner": "active"}

    # Refusals name what is wrong and change nothing.
    for body, status, words in (
        ({"elementInstancesToStart": [{"elementId": "nope"}]}, 400, "'nope'"),
        ({"elementInstancesToStart": [{"elementId": "s_in"}]}, 400, "start event"),
        ({"elementInstancesToTerminate": [{"elementInstanceKey": 77}]}, 400, "77"),
        ({"elementInstancesToStart": [{"elementId": "x"}], "typo": 1}, 400, ""),
    ):
        response = api.call(
            "POST", "/v1/modify/process-instance", json={"processInstanceKey": key, **body}
        )
        assert response.status_code == status, response.text
        assert words in response.json()["message"]
    missing = {"processInstanceKey": key + 1000}
    assert api.call("POST", "/v1/modify/process-instance", json=missing).status_code == 404

    # Terminating the last token terminates the instance; then it is a 409.
    terminate = {"elementInstanceKey": key_of(view, "inner")}
    view = post(
        api,
        "/v1/modify/process-instance",
        {"processInstanceKey": key, "elementInstancesToTerminate": [terminate]},
    )
    assert view["state"] == "terminated" and view["activeElementInstances"] == []
    again = api.call("POST", "/v1/modify/process-instance", json={"processInstanceKey": key})
    assert again.status_code == 409, again.text

    # Start an instance at given elements instead of its start event (idempotent).
    body = {"processDefinitionKey": definition, "startingElementIds": ["last", "inner"]}
    headers = {"Idempotency-Key": "start-at-1"}
    response = api.call("POST", "/v1/modify/start-process-instance", json=body, headers=headers)
    assert response.status_code == 201, response.text
    started = response.json()
    assert waiting(started) == ["inner", "last", "sp"]
    repeat = api.call("POST", "/v1/modify/start-process-instance", json=body, headers=headers)
    assert repeat.json()["processInstanceKey"] == started["processInstanceKey"]
    bad = {"processDefinitionKey": definition, "startingElementIds": ["late"]}
    response = api.call("POST", "/v1/modify/start-process-instance", json=bad)
    assert response.status_code == 400 and "'late'" in response.json()["message"]

    paths = api.call("GET", "/v1/openapi.json").json()["paths"]
    assert {"/v1/modify/process-instance", "/v1/modify/start-process-instance"} <= set(paths)
