"""Inspection routes (issue 16) on a real 3-node cluster: an instance's history and jobs read
through a node that does not lead the instance's partition (the read is forwarded to the
leader, so it sees every acknowledged write), and assign / delete-variable sent there."""

from __future__ import annotations

import pytest
from support import bpmn as b
from support.cluster import LocalCluster

from zennode.engine.keys import partition_of

pytestmark = pytest.mark.timeout(240)


def test_history_and_jobs_through_a_node_that_does_not_lead_the_partition(
    cluster: LocalCluster,
) -> None:
    cluster.deploy(b.one_task("insp-cluster", "insp-cluster-work"))
    created = cluster.call(
        "POST",
        1,
        "/v1/process-instances",
        json={"bpmnProcessId": "insp-cluster", "variables": {"a": 1, "b": 2}},
    )
    assert created.status_code == 201, created.text
    key = created.json()["processInstanceKey"]
    leader = cluster.leader_of(partition_of(key))
    other = next(n for n in sorted(cluster.urls) if n != leader)
    base = f"/v1/process-instances/{key}"

    history = cluster.call("GET", other, f"{base}/history")
    assert history.status_code == 200, history.text
    assert [(i["elementId"], i["state"]) for i in history.json()["items"]] == [
        ("start", "completed"),
        ("task", "active"),
    ]
    jobs = cluster.call("GET", other, f"{base}/jobs")
    assert jobs.status_code == 200, jobs.text
    [job] = jobs.json()["items"]

    assigned = cluster.call("POST", other, f"/v1/jobs/{job['key']}/assign", json={"assignee": "jo"})
    assert assigned.status_code == 204, assigned.text
    deleted = cluster.call("DELETE", other, f"{base}/variables/a")
    assert deleted.status_code == 200, deleted.text
    completed = cluster.call("POST", other, f"/v1/jobs/{job['key']}/complete", json={})
    assert completed.status_code == 204, completed.text

    # a linearizable read through the non-leader sees every write acknowledged before it
    done = cluster.call("GET", other, f"{base}/history").json()
    assert [(i["elementId"], i["state"]) for i in done["items"]] == [
        ("start", "completed"),
        ("task", "completed"),
        ("end", "completed"),
    ]
    [job_after] = cluster.call("GET", other, f"{base}/jobs").json()["items"]
    assert job_after["state"] == "completed" and job_after["assignee"] == "jo"
    instance = cluster.call("GET", other, base).json()
    assert instance["state"] == "completed" and instance["variables"] == {"b": 2}
    missing = cluster.call("GET", other, f"/v1/process-instances/{key + 10**6}/history")
    assert missing.status_code == 404
    cluster.wait_converged()  # every replica applied the same history rows
