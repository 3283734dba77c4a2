"""Operating the engine (issue 16) on a real 3-node cluster (3 partitions, R=3): instance search
with per-partition pages, statistics summed over the partitions, an instance's history, jobs,
incidents, child processes and event subscriptions, job assignment, deleting a variable, and
REST modification — every call on one instance sent to a node that does NOT lead that
instance's partition, so each is forwarded to the leader (reads are linearizable: they see
every write acknowledged before them). At the end the replicas agree on one state digest: the
search rows, counters and history rows are replicated state like the rest."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from support import bpmn as b
from support.cluster import LocalCluster

from zennode.engine.keys import partition_of
from zennode.service import key_partition

pytestmark = pytest.mark.timeout(300)

INNER = b.start("s_in") + b.service("inner", "ops-inner") + b.end("e_in")
INNER += b.chain("s_in", "inner", "e_in")
MODIFIED = b.bpmn(
    b.start()
    + b.service("first", "ops-first")
    + b.sub("sp", INNER)
    + b.service("last", "ops-last")
    + b.end()
    + b.chain("start", "first", "sp", "last", "end"),
    "ops-mod",
)


def _waiting_model() -> str:
    """A job at `task` (with a timer boundary) and a message wait, side by side."""
    body = b.start() + b.gateway("fork", "parallel") + b.service("task", "ops-work")
    body += b.message_catch("wait", "msg") + b.end("e1") + b.end("e2")
    body += b.boundary("late", "task", b.timer_def("duration", "PT1H")) + b.end("e3")
    body += b.chain("start", "fork") + b.flow("a", "fork", "task") + b.flow("c", "fork", "wait")
    body += b.flow("d", "task", "e1") + b.flow("e", "wait", "e2") + b.flow("g", "late", "e3")
    return b.bpmn(body, "ops", errors=b.message("msg", "ops-paid", "=orderId"))


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _not_leader(cluster: LocalCluster, instance: int) -> int:
    """A node that does not lead the partition of `instance` (its calls are forwarded)."""
    leader = cluster.leader_of(partition_of(instance))
    return next(n for n in sorted(cluster.urls) if n != leader)


def _create(
    cluster: LocalCluster, node: int, body: dict[str, Any], partition: int | None = None
) -> int:
    """Start an instance through `node`; with `partition`, on that partition (an
    Idempotency-Key that `key_partition` sends there: without one a node creates on the
    partitions it leads, docs/cluster.md)."""
    headers = {}
    if partition is not None:
        keys = (f"ops-{uuid.uuid4().hex}" for _ in range(10_000))
        headers["Idempotency-Key"] = next(
            k for k in keys if key_partition(k, [1, 2, 3]) == partition
        )
    created = cluster.call("POST", node, "/v1/process-instances", json=body, headers=headers)
    return int(_ok(created, 201)["processInstanceKey"])


def _search(cluster: LocalCluster, node: int, **params: Any) -> dict[str, Any]:
    return _ok(cluster.call("GET", node, "/v1/process-instances", params={"size": 50, **params}))


def _keys(page: dict[str, Any]) -> list[int]:
    return sorted(i["processInstanceKey"] for p in page["partitions"] for i in p["items"])


def _element_counts(cluster: LocalCluster, node: int, definition: int) -> dict[str, tuple]:
    """elementId -> (active, completed, terminated, incidents), summed over the partitions."""
    rows = _ok(cluster.call("GET", node, f"/v1/process-definitions/{definition}/statistics"))
    return {
        r["elementId"]: (r["active"], r["completed"], r["terminated"], r["incidents"]) for r in rows
    }


def _definition_counts(cluster: LocalCluster, node: int, definition: int) -> dict[str, int]:
    stats = _ok(cluster.call("GET", node, "/v1/process-definitions/statistics"))
    [mine] = [s for s in stats if s["processDefinitionKey"] == definition]
    return {k: v for k, v in mine.items() if k != "processDefinitionKey"}


def _active(view: dict[str, Any]) -> dict[str, int]:
    return {e["elementId"]: e["elementInstanceKey"] for e in view["activeElementInstances"]}


def test_search_inspection_and_statistics_through_nodes_that_do_not_lead(
    cluster: LocalCluster,
) -> None:
    ops = int(cluster.deploy(_waiting_model())["processDefinitionKey"])
    # Six instances through node 1, two on each partition.
    keys = [
        _create(
            cluster,
            1,
            {
                "bpmnProcessId": "ops",
                "businessKey": f"b-{i % 2}",
                "variables": {"orderId": f"o-{i}", "drop": i},
            },
            partition=i % 3 + 1,
        )
        for i in range(6)
    ]
    partitions = {partition_of(k) for k in keys}
    assert len(partitions) == 3

    # k0: its job is assigned, then fails with no retries left: an incident, state failed.
    k0 = keys[0]
    via = _not_leader(cluster, k0)
    base = f"/v1/process-instances/{k0}"
    history = _ok(cluster.call("GET", via, f"{base}/history", params={"size": 100}))
    assert [(i["elementId"], i["state"]) for i in history["items"]] == [
        ("start", "completed"),
        ("fork", "completed"),
        ("task", "active"),
        ("wait", "active"),
    ]
    subscriptions = _ok(cluster.call("GET", via, f"{base}/event-subscriptions"))["items"]
    assert sorted((s["type"], s["elementId"]) for s in subscriptions) == [
        ("message", "wait"),
        ("timer", "late"),
    ]
    [message] = [s for s in subscriptions if s["type"] == "message"]
    assert (message["messageName"], message["correlationKey"]) == ("ops-paid", "o-0")
    [job] = _ok(cluster.call("GET", via, f"{base}/jobs"))["items"]
    assert job["elementId"] == "task" and job["state"] == "active"
    assign = cluster.call("POST", via, f"/v1/jobs/{job['key']}/assign", json={"assignee": "ops-jo"})
    assert assign.status_code == 204, assign.text
    for node in (1, 2, 3):  # the assignee index answers on every node, over every partition
        found = _ok(cluster.call("GET", node, "/v1/jobs", params={"assignee": "ops-jo"}))
        assert [j["key"] for p in found["partitions"] for j in p["items"]] == [job["key"]]
    failed = cluster.call(
        "POST", via, f"/v1/jobs/{job['key']}/fail", json={"retries": 0, "message": "boom"}
    )
    assert failed.status_code == 204, failed.text
    [incident] = _ok(cluster.call("GET", via, f"{base}/incidents"))["items"]
    assert incident["jobKey"] == job["key"] and incident["elementId"] == "task"
    assert (
        _ok(cluster.call("GET", via, f"{base}/incidents", params={"state": "resolved"}))["items"]
        == []
    )
    deleted = cluster.call("DELETE", via, f"{base}/variables/drop")
    assert _ok(deleted) == {"processInstanceKey": k0}
    assert _ok(cluster.call("GET", via, base))["variables"] == {"orderId": "o-0"}
    assert cluster.call("DELETE", via, f"{base}/variables/drop").status_code == 404

    # k1 is cancelled, k2's job completes (its message wait stays open).
    assert (
        cluster.call(
            "POST", _not_leader(cluster, keys[1]), f"/v1/process-instances/{keys[1]}/cancel"
        ).status_code
        == 204
    )
    via2 = _not_leader(cluster, keys[2])
    [job2] = _ok(cluster.call("GET", via2, f"/v1/process-instances/{keys[2]}/jobs"))["items"]
    done = cluster.call("POST", via2, f"/v1/jobs/{job2['key']}/complete", json={})
    assert done.status_code == 204, done.text
    after = _ok(cluster.call("GET", via2, f"/v1/process-instances/{keys[2]}/history"))
    assert [(i["elementId"], i["state"]) for i in after["items"]][2:] == [
        ("task", "completed"),
        ("wait", "active"),
        ("e1", "completed"),
    ]
    left = _ok(cluster.call("GET", via2, f"/v1/process-instances/{keys[2]}/event-subscriptions"))
    assert [s["type"] for s in left["items"]] == ["message"]  # the timer closed with the task

    # Search: every node answers for every partition, one page per partition.
    for node in (1, 2, 3):
        everything = _search(cluster, node, bpmnProcessId="ops")
        assert _keys(everything) == sorted(keys) and everything["totalCount"] == 6
        assert {p["partition"] for p in everything["partitions"] if p["items"]} == partitions
    first = _search(cluster, 2, bpmnProcessId="ops", size=1, page=1)
    second = _search(cluster, 2, bpmnProcessId="ops", size=1, page=2)
    assert len(_keys(first)) == 3 and len(_keys(second)) == 3  # one per partition and page
    assert sorted(_keys(first) + _keys(second)) == sorted(keys)
    for part in first["partitions"]:  # key order within a partition: page 1 has the lower key
        assert part["items"][0]["processInstanceKey"] == min(
            k for k in keys if partition_of(k) == part["partition"]
        )
    failed_page = _search(cluster, 3, state="failed", processDefinitionKey=ops)
    assert _keys(failed_page) == [k0] and failed_page["totalCount"] == 1
    assert _keys(_search(cluster, 1, state="terminated", bpmnProcessId="ops")) == [keys[1]]
    assert _keys(_search(cluster, 2, businessKey="b-0", state="active")) == sorted(
        [keys[2], keys[4]]
    )
    assert _keys(_search(cluster, 3, activityId="task")) == sorted([k0, *keys[3:]])
    assert _keys(_search(cluster, 1, activityId="wait", bpmnProcessId="ops")) == sorted(
        k for k in keys if k != keys[1]
    )
    newest = _search(cluster, 1, bpmnProcessId="ops", sortBy="createdAt", sortOrder="desc", size=1)
    assert {p["partition"]: p["items"][0]["processInstanceKey"] for p in newest["partitions"]} == {
        p: max(k for k in keys if partition_of(k) == p) for p in partitions
    }
    created = {
        i["processInstanceKey"]: datetime.fromisoformat(i["createdAt"])
        for p in _search(cluster, 1, bpmnProcessId="ops")["partitions"]
        for i in p["items"]
    }
    pivot = created[keys[3]]
    since = _search(cluster, 2, bpmnProcessId="ops", createdFrom=pivot.isoformat())
    assert _keys(since) == sorted(k for k, at in created.items() if at >= pivot)
    until = _search(cluster, 3, bpmnProcessId="ops", createdTo=pivot.isoformat())
    assert _keys(until) == sorted(k for k, at in created.items() if at <= pivot)

    # Statistics: each partition counts its own instances, the answer is their sum.
    for node in (1, 2, 3):
        assert _definition_counts(cluster, node, ops) == {
            "active": 4,
            "completed": 0,
            "failed": 1,
            "terminated": 1,
        }
    counts = _element_counts(cluster, 2, ops)
    assert {e: counts[e] for e in ("start", "fork", "task", "wait", "e1")} == {
        "start": (0, 6, 0, 0),
        "fork": (0, 6, 0, 0),
        "task": (4, 1, 1, 1),  # k0 (at its incident), k3-k5; k2 completed; k1 cancelled
        "wait": (5, 0, 1, 0),
        "e1": (0, 1, 0, 0),
    }

    # A call activity's child: found through the parent (and by the parent key in search).
    cluster.deploy(b.one_task("ops-child", "ops-child-work"))
    cluster.deploy(b.calling("ops-parent", "ops-child"))
    parent = _create(cluster, 3, {"bpmnProcessId": "ops-parent"})
    children = _ok(
        cluster.call(
            "GET", _not_leader(cluster, parent), f"/v1/process-instances/{parent}/child-processes"
        )
    )
    [child] = children["items"]
    assert child["parentProcessInstanceKey"] == parent and child["bpmnProcessId"] == "ops-child"
    by_parent = _search(cluster, 1, parentProcessInstanceKey=parent)
    assert _keys(by_parent) == [child["processInstanceKey"]]

    missing = cluster.call("GET", via, f"/v1/process-instances/{k0 + 3 * 2**40}/history")
    assert missing.status_code == 404
    cluster.wait_converged()


def test_modification_and_start_at_elements_through_a_node_that_does_not_lead(
    cluster: LocalCluster,
) -> None:
    definition = int(cluster.deploy(MODIFIED)["processDefinitionKey"])
    moved, kept = (_create(cluster, 2, {"bpmnProcessId": "ops-mod"}, partition=p) for p in (1, 2))
    assert partition_of(moved) != partition_of(kept)
    via = _not_leader(cluster, moved)
    view = _ok(cluster.call("GET", via, f"/v1/process-instances/{moved}"))

    # Move the token from `first` into the sub-process, in one forwarded command.
    view = _ok(
        cluster.call(
            "POST",
            via,
            "/v1/modify/process-instance",
            json={
                "processInstanceKey": moved,
                "variables": {"order": 7},
                "elementInstancesToStart": [{"elementId": "inner", "variables": {"local": 1}}],
                "elementInstancesToTerminate": [{"elementInstanceKey": _active(view)["first"]}],
            },
        )
    )
    assert sorted(_active(view)) == ["inner", "sp"] and view["variables"] == {"order": 7}
    jobs = _ok(cluster.call("GET", via, f"/v1/process-instances/{moved}/jobs"))["items"]
    assert {j["elementId"]: j["state"] for j in jobs} == {"first": "terminated", "inner": "active"}
    refused = cluster.call(
        "POST",
        via,
        "/v1/modify/process-instance",
        json={"processInstanceKey": moved, "elementInstancesToStart": [{"elementId": "nope"}]},
    )
    assert refused.status_code == 400 and "'nope'" in refused.json()["message"]

    # An instance started at `last` instead of its start event, then read through a follower.
    started = _ok(
        cluster.call(
            "POST",
            3,
            "/v1/modify/start-process-instance",
            json={"processDefinitionKey": definition, "startingElementIds": ["last"]},
        ),
        201,
    )
    at_last = started["processInstanceKey"]
    read = _ok(
        cluster.call("GET", _not_leader(cluster, at_last), f"/v1/process-instances/{at_last}")
    )
    assert sorted(_active(read)) == ["last"]

    # Statistics and the element index follow the modification, summed over the partitions.
    assert _element_counts(cluster, 1, definition) == {
        "start": (0, 2, 0, 0),
        "first": (1, 0, 1, 0),  # `kept` waits there; `moved`'s token was terminated
        "sp": (1, 0, 0, 0),
        "inner": (1, 0, 0, 0),
        "last": (1, 0, 0, 0),
    }
    assert _definition_counts(cluster, 3, definition) == {
        "active": 3,
        "completed": 0,
        "failed": 0,
        "terminated": 0,
    }
    assert _keys(_search(cluster, 2, activityId="inner")) == [moved]
    assert _keys(_search(cluster, 3, activityId="first", bpmnProcessId="ops-mod")) == [kept]
    assert _keys(_search(cluster, 1, activityId="last")) == [at_last]
    cluster.wait_converged()
