"""Commands the job stream and the Zeebe gateway use: lock checks, retries, timeouts,
ThrowError and SetVariables."""

from __future__ import annotations

from support.bpmn import bpmn, chain, end, error, error_boundary, service, start

from zennode.errors import BadRequest, InvalidState, NotFound

from .helpers import Harness

ONE_TASK = bpmn(start() + service("t", "work") + end() + chain("start", "t", "end"))


def test_complete_and_fail_check_the_lock_holder_when_a_worker_is_given(h: Harness) -> None:
    key = h.start(ONE_TASK)
    job = h.job(key, "t")
    h.ok("activate_jobs", jobType="work", worker="w1", timeoutMs=100, maxJobs=1)
    foreign = h.apply("complete_job", jobKey=job["key"], worker="w2")
    assert isinstance(foreign.error, InvalidState) and "another worker" in foreign.error.message
    assert isinstance(h.apply("fail_job", jobKey=job["key"], worker="w2").error, InvalidState)
    assert h.apply("complete_job", jobKey=job["key"], worker="w1").ok
    assert h.instance(key)["state"] == "completed"


def test_update_retries_then_resolve_keeps_them(h: Harness) -> None:
    key = h.start(ONE_TASK)
    job = h.job(key, "t")
    h.ok("fail_job", jobKey=job["key"], retries=0)
    assert h.ok("update_job_retries", jobKey=job["key"], retries=4)["retries"] == 4
    assert h.jobs(key)[0]["state"] == "failed"  # still failed until the incident is resolved
    h.ok("resolve_incident", incidentKey=h.open_incidents(key)[0]["key"])
    assert h.job(key, "t")["retries"] == 4
    assert isinstance(h.apply("update_job_retries", jobKey=job["key"], retries=0).error, BadRequest)
    assert isinstance(h.apply("update_job_retries", jobKey=1, retries=2).error, NotFound)


def test_update_timeout_moves_the_lock_deadline(h: Harness) -> None:
    key = h.start(ONE_TASK)
    job = h.job(key, "t")
    assert isinstance(
        h.apply("update_job_timeout", jobKey=job["key"], timeoutMs=10).error, InvalidState
    )
    h.ok("activate_jobs", jobType="work", worker="w", timeoutMs=100, maxJobs=1, now_ms=1_000)
    assert h.ok("update_job_timeout", jobKey=job["key"], timeoutMs=5_000, now_ms=1_050) == {
        "jobKey": job["key"],
        "deadline": 6_050,
    }
    assert h.ok("timeout_jobs", now_ms=1_100)["timedOut"] == 0
    assert h.ok("timeout_jobs", now_ms=6_050)["timedOut"] == 1


def test_throw_error_is_fail_with_an_error_code(h: Harness) -> None:
    xml = bpmn(
        start()
        + service("t", "work")
        + error_boundary("b", "t", "E")
        + end()
        + end("handled")
        + chain("start", "t", "end")
        + chain("b", "handled"),
        errors=error("E", "oops"),
    )
    key = h.start(xml)
    result = h.ok("throw_error", jobKey=h.job(key, "t")["key"], errorCode="oops")
    assert result["caught"] is True
    assert h.instance(key)["state"] == "completed"


def test_set_variables_by_instance_or_element_instance_key(h: Harness) -> None:
    key = h.start(ONE_TASK, {"a": 1})
    job = h.job(key, "t")
    h.ok("set_variables", processInstanceKey=key, variables={"b": 2})
    h.ok("set_variables", elementInstanceKey=job["elementInstanceKey"], variables={"c": 3})
    assert h.instance(key)["variables"] == {"a": 1, "b": 2, "c": 3}
    # activation hands out the current variables
    got = h.ok("activate_jobs", jobType="work", worker="w", timeoutMs=10, maxJobs=1)
    assert got["jobs"][0]["variables"] == {"a": 1, "b": 2, "c": 3}
    assert isinstance(
        h.apply("set_variables", elementInstanceKey=key + 999, variables={}).error, NotFound
    )
    h.complete(key, "t")
    # the element instance is gone once the task completed, and the instance is done
    gone = h.apply("set_variables", elementInstanceKey=job["elementInstanceKey"], variables={})
    assert isinstance(gone.error, NotFound)
    assert isinstance(
        h.apply("set_variables", processInstanceKey=key, variables={}).error, InvalidState
    )


def test_element_instance_index_is_cleaned_up(h: Harness) -> None:
    done = h.start(ONE_TASK)
    h.complete(done, "t")
    cancelled = h.start(ONE_TASK)
    h.ok("cancel_instance", processInstanceKey=cancelled)
    errored = h.start(
        bpmn(
            start()
            + service("t", "work")
            + error_boundary("b", "t")
            + end()
            + end("handled")
            + chain("start", "t", "end")
            + chain("b", "handled")
        )
    )
    h.ok("fail_job", jobKey=h.job(errored, "t")["key"], errorCode="any")
    assert h.instance(errored)["state"] == "completed"
    assert [k for k in h.store.tables["index"] if k.startswith(b"ei\0")] == []
