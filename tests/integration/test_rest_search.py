"""Instance search and definition statistics over REST on a real node with two partitions:
filters, sorting, per-partition pages, businessKey on create, 400s for bad values, and the
new parameters in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support import bpmn
from support.nodes import NodeThread
from support.rest import RestClient


def _items(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for part in page["partitions"] for i in part["items"]]


def _search(api: RestClient, **params: Any) -> dict[str, Any]:
    answer = api.get("/v1/process-instances", params={"size": 100, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_search_filters_sorts_and_statistics_over_rest(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node(partitions=2))
    deployed = api.post(
        "/v1/process-definitions",
        content=bpmn.one_task("srch", "srch-job"),
        headers={"content-type": "application/xml"},
    )
    assert deployed.status_code in (200, 201), deployed.text
    definition = int(deployed.json()["processDefinitionKey"])
    keys = []
    for i in range(6):
        body: dict[str, Any] = {"bpmnProcessId": "srch", "variables": {"i": i}}
        if i < 2:
            body["businessKey"] = f"order-{i}"
        created = api.post("/v1/process-instances", json=body)
        assert created.status_code == 201, created.text
        keys.append(int(created.json()["processInstanceKey"]))
    assert api.get(f"/v1/process-instances/{keys[0]}").json()["businessKey"] == "order-0"
    cancelled = api.post(f"/v1/process-instances/{keys[5]}/cancel")
    assert cancelled.status_code == 204, cancelled.text

    found = _items(_search(api, businessKey="order-1"))
    assert [i["processInstanceKey"] for i in found] == [keys[1]]
    page = _search(api, state="terminated")
    assert [i["processInstanceKey"] for i in _items(page)] == [keys[5]]
    assert page["totalCount"] == 1
    waiting = _items(_search(api, activityId="task", processDefinitionKey=definition))
    assert sorted(i["processInstanceKey"] for i in waiting) == sorted(keys[:5])
    assert "totalCount" not in _search(api, activityId="task")  # counting it would scan
    both = _search(api, sortBy="createdAt", sortOrder="desc", size=1)
    assert len(both["partitions"]) == 2 and both["count"] == 2  # one per partition
    for part in _search(api, sortBy="key", sortOrder="desc")["partitions"]:
        listed = [i["processInstanceKey"] for i in part["items"]]
        assert listed == sorted(listed, reverse=True)
    everything = _items(_search(api, createdFrom="2000-01-01T00:00:00Z", bpmnProcessId="srch"))
    assert sorted(i["processInstanceKey"] for i in everything) == sorted(keys)
    assert _items(_search(api, createdTo="2000-01-01T00:00:00Z")) == []

    stats = api.get("/v1/process-definitions/statistics").json()
    assert stats == [
        {
            "processDefinitionKey": definition,
            "active": 5,
            "completed": 0,
            "failed": 0,
            "terminated": 1,
        }
    ]

    rows = api.get(f"/v1/process-definitions/{definition}/statistics").json()
    task = next(r for r in rows if r["elementId"] == "task")
    assert task == {
        "elementId": "task",
        "active": 5,
        "completed": 0,
        "terminated": 1,
        "incidents": 0,
    }
    assert api.get("/v1/process-definitions/999/statistics").status_code == 404


def test_bad_search_values_are_400_with_a_message_and_the_openapi_shows_them(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node())
    for params, word in (
        ({"state": "sleepy"}, "state"),
        ({"sortBy": "name"}, "sortBy"),
        ({"sortOrder": "up"}, "sortOrder"),
        ({"createdFrom": "yesterday"}, "createdFrom"),
        ({"createdFrom": "2026-02-01T00:00:00Z", "createdTo": "2026-01-01T00:00:00Z"}, "after"),
        ({"processDefinitionKey": "x"}, "processDefinitionKey"),
    ):
        answer = api.get("/v1/process-instances", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert word in answer.json()["message"], answer.text
    too_long = api.post(
        "/v1/process-instances", json={"bpmnProcessId": "any", "businessKey": "k" * 257}
    )
    assert too_long.status_code == 400 and "businessKey" in too_long.json()["message"]
    document = api.get("/v1/openapi.json").json()
    spec = document["paths"]
    total = document["components"]["schemas"]["ProcessInstancePage"]["properties"]["totalCount"]
    for uncounted in ("businessKey", "parentProcessInstanceKey", "activityId", "createdFrom"):
        assert uncounted in total["description"]  # says when the total is absent
    names = {p["name"] for p in spec["/v1/process-instances"]["get"]["parameters"]}
    assert {
        "state",
        "bpmnProcessId",
        "processDefinitionKey",
        "businessKey",
        "parentProcessInstanceKey",
        "activityId",
        "createdFrom",
        "createdTo",
        "sortBy",
        "sortOrder",
    } <= names
    assert "/v1/process-definitions/statistics" in spec
    assert "/v1/process-definitions/{processDefinitionKey}/statistics" in spec
