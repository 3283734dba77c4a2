"""Read-only views: the REST shapes of definitions, instances, jobs and incidents."""

from __future__ import annotations

import pytest
from support.bpmn import bpmn, chain, end, service, start

from zennode.engine import queries
from zennode.errors import BadRequest, NotFound

from .helpers import Harness

ONE_TASK = bpmn(start() + service("t", "work") + end() + chain("start", "t", "end"))
OTHER = bpmn(start() + service("t", "other") + end() + chain("start", "t", "end"), pid="q")


def test_instance_view_shape(h: Harness) -> None:
    key = h.start(ONE_TASK, {"a": [1, 2]})
    with h.store.read() as txn:
        view = queries.get_instance(txn, key)
    [element] = view["activeElementInstances"]
    assert element["elementId"] == "t" and element["elementType"] == "serviceTask"
    assert element["state"] == "active" and isinstance(element["elementInstanceKey"], int)
    assert view == {
        "processInstanceKey": key,
        "processDefinitionKey": view["processDefinitionKey"],
        "bpmnProcessId": "p",
        "version": 1,
        "state": "active",
        "variables": {"a": [1, 2]},
        "createdAt": view["createdAt"],
        "activeElementInstances": [element],
        "incidents": 0,
    }
    with h.store.read() as txn, pytest.raises(NotFound):
        queries.get_instance(txn, key + 1000)
    with h.store.read() as txn:
        items, total = queries.list_instances(txn)
        assert total == 1 and items[0]["processInstanceKey"] == key


def test_job_view_and_filters(h: Harness) -> None:
    keys = [h.start(ONE_TASK, {"n": n}) for n in range(5)]
    h.start(OTHER)
    h.ok("activate_jobs", jobType="work", worker="w", timeoutMs=100, maxJobs=2)
    with h.store.read() as txn:
        all_jobs, total = queries.list_jobs(txn)
        assert total == 6 and len(all_jobs) == 6
        page, total = queries.list_jobs(txn, offset=4, limit=10)
        assert total == 6 and len(page) == 2
        active, total = queries.list_jobs(txn, state="active")
        assert total == 4
        work_active, total = queries.list_jobs(txn, state="active", job_type="work")
        assert total == 3 and {j["type"] for j in work_active} == {"work"}
        locked, total = queries.list_jobs(txn, state="activated", job_type="work")
        assert total == 2 and all(j["worker"] == "w" and "deadline" in j for j in locked)
        other, total = queries.list_jobs(txn, job_type="other")
        assert total == 1
        mine, total = queries.list_jobs(txn, instance_key=keys[2])
        assert total == 1 and mine[0]["variables"] == {"n": 2}
        assert queries.list_jobs(txn, instance_key=keys[2], state="completed") == ([], 0)
        job = queries.get_job(txn, mine[0]["key"])
        for field in (
            "key",
            "type",
            "elementId",
            "processInstanceKey",
            "elementInstanceKey",
            "state",
            "createdAt",
            "variables",
            "retries",
            "customHeaders",
        ):
            assert field in job
        with pytest.raises(NotFound):
            queries.get_job(txn, 1)
        with pytest.raises(BadRequest):
            queries.list_jobs(txn, limit=10**6)


def test_incident_views(h: Harness) -> None:
    key = h.start(ONE_TASK)
    other = h.start(ONE_TASK)
    for instance_key in (key, other):
        job = h.job(instance_key, "t")
        h.ok("fail_job", jobKey=job["key"], retries=0, message="broken")
    with h.store.read() as txn:
        items, total = queries.list_incidents(txn)
        assert total == 2
        mine, total = queries.list_incidents(txn, instance_key=key)
        assert total == 1
        incident = queries.get_incident(txn, mine[0]["key"])
    assert incident["processInstanceKey"] == key
    assert incident["errorType"] == "JOB_NO_RETRIES" and incident["message"] == "broken"
    assert incident["state"] == "active" and incident["elementId"] == "t"
    assert {"elementInstanceKey", "jobKey", "createdAt"} <= set(incident)
    h.ok("resolve_incident", incidentKey=incident["key"])
    with h.store.read() as txn:
        assert queries.get_incident(txn, incident["key"])["state"] == "resolved"
        assert queries.list_incidents(txn, incident_state="active")[1] == 1
        with pytest.raises(NotFound):
            queries.get_incident(txn, 5)


def test_job_and_incident_counts_stop_at_the_bound(h: Harness) -> None:
    """totalCount walks the matches only up to `count_max` (or the page's end, if further):
    past it the count is None, not a walk of every match; at or under it, exact. The
    per-instance lists always count exactly."""
    keys = [h.start(ONE_TASK) for _ in range(5)]
    for key in keys[:4]:
        h.ok("fail_job", jobKey=h.job(key, "t")["key"], retries=0, message="broken")
    with h.store.read() as txn:
        for filters in ({}, {"job_type": "work"}, {"state": "failed"}):
            wanted = 4 if filters.get("state") == "failed" else 5
            page, total = queries.list_jobs(txn, limit=2, count_max=3, **filters)
            assert len(page) == 2 and total is None, filters
            assert queries.list_jobs(txn, limit=2, count_max=wanted, **filters)[1] == wanted
        # a page reaching past the bound is counted to its end, and exact once all is walked
        assert queries.list_jobs(txn, offset=2, limit=3, count_max=1)[1] == 5
        page, total = queries.list_jobs(txn, offset=1, limit=2, count_max=2)
        assert [j["processInstanceKey"] for j in page] == keys[1:3] and total is None

        page, total = queries.list_incidents(txn, limit=1, count_max=3)
        assert len(page) == 1 and total is None
        assert queries.list_incidents(txn, limit=1, count_max=4)[1] == 4
        page, total = queries.list_incidents(txn, incident_state="active", limit=3, count_max=2)
        assert len(page) == 3 and total is None
        assert queries.list_incidents(txn, incident_state="resolved", count_max=1) == ([], 0)

        assert queries.instance_jobs(txn, keys[0], limit=1)[1] == 1
        assert queries.instance_incidents(txn, keys[0], limit=1)[1] == 1


def test_definition_views(h: Harness) -> None:
    h.deploy(ONE_TASK)
    h.deploy(OTHER)
    h.deploy(ONE_TASK.replace("work", "work2"))
    with h.store.read() as txn:
        items, total = queries.list_definitions(txn)
        assert total == 3
        assert [(d["bpmnProcessId"], d["version"]) for d in items] == [("p", 1), ("p", 2), ("q", 1)]
        only_p, total = queries.list_definitions(txn, bpmn_process_id="p")
        assert total == 2
        with pytest.raises(NotFound):
            queries.get_definition(txn, 99)
