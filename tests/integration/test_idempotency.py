"""`Idempotency-Key` on the REST API of a real node (2 partitions): a repeat gets the first
answer and applies nothing twice; another request with the same key is a 422."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import bpmn
from support.nodes import NodeThread, node_config

from zennode.engine.keys import make_key
from zennode.node import Node

PROCESS = "idem-flow"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    runner = NodeThread(Node(node_config(tmp_path_factory.mktemp("idem"), 2), serve_grpc=False))
    runner.start()
    try:
        with httpx.Client(base_url=runner.url, timeout=15.0) as client:
            deployed = client.post(
                "/v1/process-definitions",
                content=bpmn.one_task(PROCESS, "idem-job"),
                headers={"content-type": "application/xml"},
            )
            assert deployed.status_code in (200, 201), deployed.text
            yield client
    finally:
        runner.stop()


def instances(api: httpx.Client) -> list[dict[str, Any]]:
    body = api.get("/v1/process-instances", params={"size": 100}).json()
    return [i for p in body["partitions"] for i in p["items"] if i["bpmnProcessId"] == PROCESS]


def test_a_repeated_create_returns_the_first_instance_and_creates_nothing(api):
    before = len(instances(api))
    body = {"bpmnProcessId": PROCESS, "variables": {"n": 1}}
    headers = {"Idempotency-Key": "create-1"}
    first = api.post("/v1/process-instances", json=body, headers=headers)
    again = api.post("/v1/process-instances", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(instances(api)) == before + 1


def test_the_same_key_with_another_body_is_a_422(api):
    headers = {"Idempotency-Key": "create-2"}
    body = {"bpmnProcessId": PROCESS, "variables": {"n": 1}}
    assert api.post("/v1/process-instances", json=body, headers=headers).status_code == 201
    other = {"bpmnProcessId": PROCESS, "variables": {"n": 2}}
    refused = api.post("/v1/process-instances", json=other, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_a_repeated_completion_is_applied_once(api):
    created = api.post("/v1/process-instances", json={"bpmnProcessId": PROCESS}).json()
    key = created["processInstanceKey"]
    jobs = api.get("/v1/jobs", params={"processInstanceKey": key}).json()
    (job,) = [j for p in jobs["partitions"] for j in p["items"]]
    headers = {"Idempotency-Key": f"complete-{job['key']}"}
    url = f"/v1/jobs/{job['key']}/complete"
    assert api.post(url, json={"variables": {"x": 1}}, headers=headers).status_code == 204
    # Without the key a second completion is refused (the job is done); with it, the first
    # answer comes back.
    assert api.post(url, json={"variables": {"x": 1}}, headers=headers).status_code == 204
    assert api.post(url, json={"variables": {"x": 1}}).status_code in (404, 409)
    assert api.get(f"/v1/process-instances/{key}").json()["state"] == "completed"


def test_a_first_error_is_the_answer_to_a_repeat_too(api):
    missing = make_key(1, 999_999)
    headers = {"Idempotency-Key": "complete-missing"}
    first = api.post(f"/v1/jobs/{missing}/complete", json={}, headers=headers)
    again = api.post(f"/v1/jobs/{missing}/complete", json={}, headers=headers)
    assert first.status_code == again.status_code == 404
    assert first.json() == again.json()


def test_messages_and_signals_take_a_key(api):
    body = {"messageName": "m", "correlationKey": "c", "timeToLive": 60_000}
    headers = {"Idempotency-Key": "publish-1"}
    first = api.post("/v1/messages", json=body, headers=headers)
    again = api.post("/v1/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["messageKey"] == again.json()["messageKey"]
    signal = {"signalName": "s"}
    first = api.post("/v1/signals", json=signal, headers={"Idempotency-Key": "signal-1"})
    again = api.post("/v1/signals", json=signal, headers={"Idempotency-Key": "signal-1"})
    assert first.status_code == again.status_code and first.json() == again.json()


def test_an_empty_or_oversized_key_is_a_400(api):
    body = {"bpmnProcessId": PROCESS}
    for key in ("", "k" * 256):
        response = api.post("/v1/process-instances", json=body, headers={"Idempotency-Key": key})
        assert response.status_code in (400, 422), response.text
