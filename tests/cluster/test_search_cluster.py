"""Instance search and statistics on a 3-node cluster (3 partitions, R=3): instances spread
over the partitions are found through any node, per-partition pages, statistics summed over
the partitions, and the replicas still agree on one state digest (the search rows are part of
the replicated state)."""

from __future__ import annotations

from typing import Any

from support import bpmn
from support.cluster import LocalCluster


def _search(cluster: LocalCluster, node: int, **params: Any) -> dict[str, Any]:
    answer = cluster.call("GET", node, "/v1/process-instances", params={"size": 50, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _keys(page: dict[str, Any]) -> list[int]:
    return sorted(i["processInstanceKey"] for p in page["partitions"] for i in p["items"])


def test_search_and_statistics_across_partitions(cluster: LocalCluster) -> None:
    deployed = cluster.call(
        "POST",
        1,
        "/v1/process-definitions",
        content=bpmn.one_task("csearch", "csearch-job"),
        headers={"content-type": "application/xml"},
    )
    assert deployed.status_code in (200, 201), deployed.text
    definition = int(deployed.json()["processDefinitionKey"])
    keys = []
    for i in range(9):  # round robin: three on each partition
        created = cluster.call(
            "POST",
            1 + i % 3,
            "/v1/process-instances",
            json={"bpmnProcessId": "csearch", "businessKey": f"c-{i % 2}"},
        )
        assert created.status_code == 201, created.text
        keys.append(int(created.json()["processInstanceKey"]))
    for key in keys[:2]:
        cancelled = cluster.call("POST", 2, f"/v1/process-instances/{key}/cancel")
        assert cancelled.status_code == 204, cancelled.text

    for node in (1, 2, 3):  # every node answers for every partition
        everything = _search(cluster, node, bpmnProcessId="csearch")
        assert _keys(everything) == sorted(keys)
        assert {p["partition"] for p in everything["partitions"]} == {1, 2, 3}
        assert everything["totalCount"] == 9
    by_key = _search(cluster, 3, businessKey="c-0", state="active")
    assert _keys(by_key) == sorted(k for i, k in enumerate(keys) if i % 2 == 0 and i >= 2)
    terminated = _search(cluster, 2, state="terminated", processDefinitionKey=definition)
    assert _keys(terminated) == sorted(keys[:2]) and terminated["totalCount"] == 2
    first_each = _search(
        cluster, 1, activityId="task", sortBy="createdAt", sortOrder="desc", size=1
    )
    newest = [p["items"][0]["processInstanceKey"] for p in first_each["partitions"] if p["items"]]
    assert len(newest) == 3 and set(newest) <= set(keys[2:])

    stats = cluster.call("GET", 1, "/v1/process-definitions/statistics").json()
    mine = next(s for s in stats if s["processDefinitionKey"] == definition)
    assert mine == {
        "processDefinitionKey": definition,
        "active": 7,
        "completed": 0,
        "failed": 0,
        "terminated": 2,
    }
    rows = cluster.call("GET", 2, f"/v1/process-definitions/{definition}/statistics").json()
    task = next(r for r in rows if r["elementId"] == "task")
    assert task == {
        "elementId": "task",
        "active": 7,
        "completed": 0,
        "terminated": 2,
        "incidents": 0,
    }
    cluster.wait_converged()  # the replicas hold the same search rows: one digest each
