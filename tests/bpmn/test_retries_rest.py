"""Job retries over REST: back-off on failure, an incident at zero retries, new retries, and
resolving the incident makes the job active again with them."""

from __future__ import annotations

from support.bpmn import bpmn, chain, end, service, start

MODEL = bpmn(start() + service("t", "work", retries="2") + end() + chain("start", "t", "end"))


def test_fail_with_backoff_then_incident_then_retries_and_resolve(start_node, client_for) -> None:
    client = client_for(start_node())
    assert client.post("/v1/process-definitions", content=MODEL).status_code == 201
    key = client.post("/v1/process-instances", json={"bpmnProcessId": "p"}).json()[
        "processInstanceKey"
    ]
    [job] = client.get("/v1/jobs", params={"processInstanceKey": key}).json()["partitions"][0][
        "items"
    ]
    assert job["retries"] == 2
    failed = client.post(
        f"/v1/jobs/{job['key']}/fail", json={"retries": 1, "retryBackoffMs": 60_000}
    )
    assert failed.status_code in (200, 204), failed.text
    again = client.get(f"/v1/jobs/{job['key']}").json()
    assert again["state"] == "active" and again["retries"] == 1 and "activatableAt" in again
    client.post(f"/v1/jobs/{job['key']}/fail", json={"retries": 0, "message": "down"})
    [incident] = client.get("/v1/incidents", params={"processInstanceKey": key}).json()[
        "partitions"
    ][0]["items"]
    assert incident["errorType"] == "JOB_NO_RETRIES"
    assert client.post(f"/v1/jobs/{job['key']}/retries", json={"retries": 3}).status_code == 204
    assert client.post(f"/v1/incidents/{incident['key']}/resolve").status_code == 204
    revived = client.get(f"/v1/jobs/{job['key']}").json()
    assert revived["state"] == "active" and revived["retries"] == 3
    assert client.post(f"/v1/jobs/{job['key']}/complete", json={}).status_code in (200, 204)
    assert client.get(f"/v1/process-instances/{key}").json()["state"] == "completed"
