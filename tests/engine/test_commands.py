"""Commands: deploy, create, cancel, complete, fail, resolve, activate, time out, release."""

from __future__ import annotations

import pytest
from support.bpmn import bpmn, chain, definitions, end, process, service, start

from zennode.engine import queries
from zennode.engine.keys import make_key, partition_of
from zennode.errors import BadRequest, InvalidState, NotFound

from .helpers import Harness

ONE_TASK = bpmn(start() + service("t", "work") + end() + chain("start", "t", "end"))


def test_deploy_assigns_key_version_and_is_idempotent(h: Harness) -> None:
    first = h.deploy(ONE_TASK)
    assert first["version"] == 1 and first["duplicate"] is False
    assert partition_of(first["processDefinitionKey"]) == 1
    again = h.deploy(ONE_TASK)
    assert again["processDefinitionKey"] == first["processDefinitionKey"]
    assert again["duplicate"] is True
    changed = h.deploy(ONE_TASK.replace('type="work"', 'type="work2"'))
    assert changed["version"] == 2 and changed["duplicate"] is False
    assert changed["processDefinitionKey"] != first["processDefinitionKey"]
    # latest version is used by bpmnProcessId
    created = h.ok("create_instance", bpmnProcessId="p")
    assert created["version"] == 2
    assert h.job(created["processInstanceKey"], "t")["type"] == "work2"
    # an old version stays startable by key, or by id and version
    old = h.ok("create_instance", processDefinitionKey=first["processDefinitionKey"])
    assert old["version"] == 1
    assert h.ok("create_instance", bpmnProcessId="p", version=1)["version"] == 1
    assert h.ok("create_instance", bpmnProcessId="p", version=-1)["version"] == 2
    assert isinstance(h.apply("create_instance", bpmnProcessId="p", version=3).error, NotFound)


def test_deploy_with_assigned_keys_stores_exactly_those() -> None:
    h2 = Harness(partition_id=2)
    key = make_key(1, 77)
    result = h2.ok("deploy", xml=ONE_TASK, assigned={"p": {"key": key, "version": 5}})
    assert (result["processDefinitionKey"], result["version"], result["duplicate"]) == (
        key,
        5,
        False,
    )
    again = h2.ok("deploy", xml=ONE_TASK, assigned={"p": {"key": key, "version": 5}})
    assert again["duplicate"] is True
    created = h2.ok("create_instance", bpmnProcessId="p")
    assert created["processDefinitionKey"] == key and created["version"] == 5
    assert partition_of(created["processInstanceKey"]) == 2
    missing = h2.apply("deploy", xml=ONE_TASK, assigned={"other": {"key": key, "version": 1}})
    assert isinstance(missing.error, BadRequest)


def test_deploy_of_several_processes_and_non_executable_fallback(h: Harness) -> None:
    two = definitions(
        process(start() + end() + chain("start", "end"), pid="one"),
        process(start() + end() + chain("start", "end"), pid="two"),
    )
    result = h.deploy(two)
    assert [p["bpmnProcessId"] for p in result["processes"]] == ["one", "two"]
    assert result["bpmnProcessId"] == "one"
    mixed = definitions(
        process(start() + end() + chain("start", "end"), pid="run"),
        process("<bpmn:receiveTask id='r'/>", pid="docs", executable=False),
    )
    assert [p["bpmnProcessId"] for p in h.deploy(mixed)["processes"]] == ["run"]
    none_marked = definitions(
        process(start() + end() + chain("start", "end"), pid="x", executable=False)
    )
    assert h.deploy(none_marked)["bpmnProcessId"] == "x"
    with h.store.read() as txn:
        items, total = queries.list_definitions(txn)
        assert total == 4 and "xml" not in items[0]
        assert queries.get_definition(txn, result["processDefinitionKey"])["xml"] == two


def test_create_instance_errors(h: Harness) -> None:
    assert isinstance(h.apply("create_instance", bpmnProcessId="nope").error, NotFound)
    assert isinstance(h.apply("create_instance", processDefinitionKey=123).error, NotFound)
    assert isinstance(h.apply("create_instance").error, BadRequest)
    h.deploy(ONE_TASK)
    bad = h.apply("create_instance", bpmnProcessId="p", variables=[1, 2])
    assert isinstance(bad.error, BadRequest)


def test_unknown_command_and_bad_fields_are_bad_requests(h: Harness) -> None:
    assert isinstance(h.apply("explode").error, BadRequest)
    with h.store.write() as txn:
        assert isinstance(h.engine.apply(txn, {"type": "timeout_jobs"}).error, BadRequest)
        assert isinstance(h.engine.apply(txn, "nonsense").error, BadRequest)  # type: ignore[arg-type]
    assert isinstance(h.apply("complete_job", jobKey="7").error, BadRequest)
    assert isinstance(h.apply("activate_jobs", jobType="x").error, BadRequest)


def test_complete_job_errors(h: Harness) -> None:
    key = h.start(ONE_TASK)
    job = h.job(key, "t")
    assert isinstance(h.apply("complete_job", jobKey=job["key"] + 1000).error, NotFound)
    h.ok("complete_job", jobKey=job["key"])
    again = h.apply("complete_job", jobKey=job["key"])
    assert isinstance(again.error, InvalidState) and "completed" in again.error.message
    assert isinstance(h.apply("fail_job", jobKey=job["key"]).error, InvalidState)


def test_failed_command_leaves_state_unchanged(h: Harness) -> None:
    key = h.start(ONE_TASK)
    job = h.job(key, "t")
    before = h.snapshot()
    bad = h.apply("complete_job", jobKey=job["key"], variables="not an object")
    assert isinstance(bad.error, BadRequest) and bad.events == []
    assert h.apply("deploy", xml="<broken").error is not None
    assert h.apply("cancel_instance", processInstanceKey=key + 99).error is not None
    assert h.snapshot() == before
    # and the key counter did not move: the next key is the same as without the failures
    h.ok("cancel_instance", processInstanceKey=key)
    assert h.apply("cancel_instance", processInstanceKey=key).error is not None


def test_cancel_terminates_jobs_and_resolves_incidents(h: Harness) -> None:
    xml = bpmn(
        start()
        + '<bpmn:parallelGateway id="fork"/>'
        + service("a", "A")
        + service("b", "B")
        + end("ea")
        + end("eb")
        + chain("start", "fork")
        + chain("fork", "a", "ea", prefix="x")
        + chain("fork", "b", "eb", prefix="y")
    )
    key = h.start(xml)
    b = h.job(key, "b")
    h.ok("fail_job", jobKey=b["key"], retries=0, message="no")
    assert h.instance(key)["state"] == "failed"
    result = h.ok("cancel_instance", processInstanceKey=key)
    assert result["state"] == "terminated"
    inst = h.instance(key)
    assert inst["state"] == "terminated" and inst["activeElementInstances"] == []
    assert inst["incidents"] == 0
    assert [j["state"] for j in h.jobs(key)] == ["terminated", "terminated"]
    assert [i["state"] for i in h.incidents(key)] == ["resolved"]
    assert "instance_terminated" in [e["event"] for e in h.events]
    assert isinstance(h.apply("cancel_instance", processInstanceKey=key).error, InvalidState)
    assert isinstance(h.apply("complete_job", jobKey=b["key"]).error, InvalidState)


def test_fail_job_retries_back_off_and_incident(h: Harness) -> None:
    key = h.start(
        bpmn(start() + service("t", "work", retries="2") + end() + chain("start", "t", "end"))
    )
    job = h.job(key, "t")
    out = h.apply(
        "fail_job", jobKey=job["key"], message="first", retryBackoffMs=5000, now_ms=10_000
    )
    assert out.result == {"jobKey": job["key"], "state": "active", "retries": 1}
    activatable = [e for e in out.events if e["event"] == "job_activatable"]
    assert activatable[0]["activatableAt"] == 15_000
    # in back-off: not activatable yet
    early = h.ok(
        "activate_jobs", jobType="work", worker="w", timeoutMs=1000, maxJobs=5, now_ms=14_999
    )
    assert early["jobs"] == []
    late = h.ok(
        "activate_jobs", jobType="work", worker="w", timeoutMs=1000, maxJobs=5, now_ms=15_000
    )
    assert [j["key"] for j in late["jobs"]] == [job["key"]]
    assert late["jobs"][0]["errorMessage"] == "first"
    out = h.apply("fail_job", jobKey=job["key"], message="second", now_ms=15_001)
    assert out.result["state"] == "failed" and out.result["retries"] == 0
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "JOB_NO_RETRIES" and incident["message"] == "second"
    assert incident["jobKey"] == job["key"]
    assert h.instance(key)["state"] == "failed"
    assert isinstance(h.apply("complete_job", jobKey=job["key"]).error, InvalidState)

    resolved = h.apply("resolve_incident", incidentKey=incident["key"])
    assert resolved.ok
    assert [e["event"] for e in resolved.events] == ["incident_resolved", "job_activatable"]
    job_now = h.job(key, "t")
    assert job_now["state"] == "active" and job_now["retries"] == 1
    assert h.instance(key)["state"] == "active"
    again = h.apply("resolve_incident", incidentKey=incident["key"])
    assert isinstance(again.error, InvalidState)
    assert isinstance(h.apply("resolve_incident", incidentKey=12345).error, NotFound)
    h.complete(key, "t")
    assert h.instance(key)["state"] == "completed"


def test_fail_job_with_explicit_retries_and_variables(h: Harness) -> None:
    key = h.start(ONE_TASK, {"a": 1})
    job = h.job(key, "t")
    h.ok("fail_job", jobKey=job["key"], retries=7, variables={"attempt": 1})
    job = h.job(key, "t")
    assert job["retries"] == 7 and job["variables"] == {"a": 1, "attempt": 1}


def test_activate_jobs_locks_and_timeout_frees(h: Harness) -> None:
    keys = [h.start(ONE_TASK) for _ in range(3)]
    got = h.ok("activate_jobs", jobType="work", worker="w1", timeoutMs=100, maxJobs=2, now_ms=5_000)
    assert len(got["jobs"]) == 2
    assert all(j["state"] == "activated" and j["deadline"] == 5_100 for j in got["jobs"])
    assert all(j["worker"] == "w1" for j in got["jobs"])
    rest = h.ok(
        "activate_jobs", jobType="work", worker="w2", timeoutMs=100, maxJobs=5, now_ms=5_001
    )
    assert len(rest["jobs"]) == 1
    assert (
        h.ok("activate_jobs", jobType="work", worker="w3", timeoutMs=100, maxJobs=5)["jobs"] == []
    )
    assert (
        h.ok("activate_jobs", jobType="other", worker="w3", timeoutMs=100, maxJobs=5)["jobs"] == []
    )
    assert h.ok("timeout_jobs", now_ms=5_099) == {"timedOut": 0, "more": False}
    out = h.apply("timeout_jobs", now_ms=5_100)
    assert out.result == {"timedOut": 2, "more": False}
    assert {e["event"] for e in out.events} == {"job_activatable"}
    assert len(h.jobs(state="active")) == 2 and len(h.jobs(state="activated")) == 1
    with h.store.read() as txn:
        job = queries.get_job(txn, got["jobs"][0]["key"])
        assert "worker" not in job and "deadline" not in job
    assert len(keys) == 3


def test_activate_specific_job_keys(h: Harness) -> None:
    a = h.job(h.start(ONE_TASK), "t")
    b = h.job(h.start(ONE_TASK), "t")
    got = h.ok(
        "activate_jobs", jobType="work", worker="w", timeoutMs=10, maxJobs=5, jobKeys=[b["key"]]
    )
    assert [j["key"] for j in got["jobs"]] == [b["key"]]
    again = h.ok(
        "activate_jobs",
        jobType="work",
        worker="w",
        timeoutMs=10,
        maxJobs=5,
        jobKeys=[b["key"], a["key"]],
    )
    assert [j["key"] for j in again["jobs"]] == [a["key"]]


def test_activation_gives_current_variables_when_task_has_no_inputs(h: Harness) -> None:
    xml = bpmn(
        start()
        + '<bpmn:parallelGateway id="fork"/>'
        + service("a", "A")
        + service("b", "B")
        + end("ea")
        + end("eb")
        + chain("start", "fork")
        + chain("fork", "a", "ea", prefix="x")
        + chain("fork", "b", "eb", prefix="y")
    )
    key = h.start(xml, {"v": 0})
    h.complete(key, "a", v=1)
    got = h.ok("activate_jobs", jobType="B", worker="w", timeoutMs=10, maxJobs=1)
    assert got["jobs"][0]["variables"] == {"v": 1}


def test_release_jobs_by_worker_and_keys(h: Harness) -> None:
    for _ in range(3):
        h.start(ONE_TASK)
    h.ok("activate_jobs", jobType="work", worker="w1", timeoutMs=1000, maxJobs=2)
    other = h.ok("activate_jobs", jobType="work", worker="w2", timeoutMs=1000, maxJobs=2)
    assert h.ok("release_jobs", worker="w1") == {"released": 2}
    assert len(h.jobs(state="activated")) == 1
    assert h.ok("release_jobs", jobKeys=[other["jobs"][0]["key"]]) == {"released": 1}
    assert len(h.jobs(state="active")) == 3
    assert isinstance(h.apply("release_jobs").error, BadRequest)


def test_keys_come_from_the_partition_counter() -> None:
    h3 = Harness(partition_id=3)
    result = h3.deploy(ONE_TASK)
    key = h3.start(ONE_TASK)
    job = h3.job(key, "t")
    assert {partition_of(k) for k in (result["processDefinitionKey"], key, job["key"])} == {3}
    assert len({result["processDefinitionKey"], key, job["key"], job["elementInstanceKey"]}) == 4


def test_same_commands_give_byte_identical_state() -> None:
    def run() -> Harness:
        h = Harness()
        keys = [h.start(ONE_TASK, {"n": n}) for n in range(5)]
        got = h.ok("activate_jobs", jobType="work", worker="w", timeoutMs=50, maxJobs=3)
        h.ok("fail_job", jobKey=got["jobs"][0]["key"], retries=0, message="x")
        h.ok("complete_job", jobKey=got["jobs"][1]["key"], variables={"r": [1, {"b": 2}]})
        h.ok("timeout_jobs", now_ms=10**9)
        h.ok("cancel_instance", processInstanceKey=keys[4])
        return h

    first, second = run(), run()
    assert first.snapshot() == second.snapshot()
    assert first.events == second.events


@pytest.mark.parametrize("field", ["retries", "retryBackoffMs"])
def test_negative_numbers_are_rejected(h: Harness, field: str) -> None:
    job = h.job(h.start(ONE_TASK), "t")
    assert isinstance(h.apply("fail_job", jobKey=job["key"], **{field: -1}).error, BadRequest)
