"""Tasks: jobs, mappings, headers, retries, user/script/pass-through tasks."""

from __future__ import annotations

from support.bpmn import bpmn, chain, end, service, start

from .helpers import Harness


def one_task(task: str, tid: str = "t") -> str:
    return bpmn(start() + task + end() + chain("start", tid, "end"))


def test_service_task_creates_a_job_and_completion_ends_the_instance(h: Harness) -> None:
    key = h.start(one_task(service("t", "work")), {"a": 1})
    job = h.job(key, "t")
    assert job["type"] == "work"
    assert job["state"] == "active"
    assert job["retries"] == 3
    assert job["variables"] == {"a": 1}
    assert job["processInstanceKey"] == key
    assert h.waiting_at(key) == ["t"]
    created = [e for e in h.events if e["event"] == "job_created"]
    assert created[-1]["job"]["key"] == job["key"] and created[-1]["type"] == "work"

    h.complete(key, "t", b=2)
    inst = h.instance(key)
    assert inst["state"] == "completed"
    assert inst["variables"] == {"a": 1, "b": 2}
    assert inst["activeElementInstances"] == []
    assert "endedAt" in inst
    assert h.jobs(key)[0]["state"] == "completed"
    assert [e["event"] for e in h.events][-2:] == ["job_completed", "instance_completed"]


def test_input_mappings_shape_job_variables_and_literals_stay_strings(h: Harness) -> None:
    task = service("t", "work", inputs={"total": "=price * qty", "kind": "fixed", "o.id": "=id"})
    key = h.start(one_task(task), {"price": 2.5, "qty": 4, "id": "x", "secret": 1})
    assert h.job(key, "t")["variables"] == {"total": 10, "kind": "fixed", "o": {"id": "x"}}


def test_output_mappings_pick_what_enters_the_scope(h: Harness) -> None:
    task = service("t", "work", outputs={"result": "=answer + 1", "deep.x": "=answer"})
    key = h.start(one_task(task), {"keep": True})
    h.complete(key, "t", answer=41, noise="dropped")
    assert h.instance(key)["variables"] == {"keep": True, "result": 42, "deep": {"x": 41}}


def test_zenbpm_namespace_is_the_same_as_zeebe(h: Harness) -> None:
    task = service("t", "zen-type", inputs={"y": "=x"}, headers={"h": "v"}, ns="zenbpm")
    key = h.start(one_task(task), {"x": 5})
    job = h.job(key, "t")
    assert job["type"] == "zen-type"
    assert (job["variables"], job["customHeaders"]) == ({"y": 5}, {"h": "v"})


def test_job_type_and_retries_can_be_expressions(h: Harness) -> None:
    task = service("t", '="kind-" + k', retries="=n + 1")
    key = h.start(one_task(task), {"k": "a", "n": 4})
    job = h.job(key, "t")
    assert (job["type"], job["retries"]) == ("kind-a", 5)


def test_headers_are_custom_headers(h: Harness) -> None:
    key = h.start(one_task(service("t", "w", headers={"url": "http://x", "n": "1"})))
    assert h.job(key, "t")["customHeaders"] == {"url": "http://x", "n": "1"}


def test_user_task_without_definition_gets_user_task_type(h: Harness) -> None:
    key = h.start(one_task('<bpmn:userTask id="t"/>'))
    assert h.job(key, "t")["type"] == "user-task"


def test_send_and_business_rule_and_script_tasks_with_definition_make_jobs(h: Harness) -> None:
    for tag in ("sendTask", "businessRuleTask", "scriptTask", "userTask"):
        key = h.start(one_task(service("t", f"{tag}-job", tag=tag)))
        assert h.job(key, "t")["type"] == f"{tag}-job"


def test_feel_script_task_sets_its_result_variable(h: Harness) -> None:
    script = (
        '<bpmn:scriptTask id="t"><bpmn:extensionElements>'
        '<zeebe:script expression="=a * 2" resultVariable="b"/>'
        "</bpmn:extensionElements></bpmn:scriptTask>"
    )
    key = h.start(one_task(script), {"a": 21})
    inst = h.instance(key)
    assert inst["state"] == "completed" and inst["variables"]["b"] == 42


def test_plain_and_manual_tasks_and_throw_events_pass_through(h: Harness) -> None:
    body = (
        start()
        + '<bpmn:task id="a"/><bpmn:manualTask id="b"/><bpmn:intermediateThrowEvent id="c"/>'
        + end()
        + chain("start", "a", "b", "c", "end")
    )
    key = h.start(bpmn(body))
    assert h.instance(key)["state"] == "completed"


def test_input_mapping_error_is_an_incident_and_resolve_retries(h: Harness) -> None:
    task = service("t", "w", inputs={"x": "=substring(s, 1, 2)"})
    key = h.start(one_task(task), {"s": None})
    # substring(null, ...) is null in FEEL: that is a value, not an error.
    assert h.job(key, "t")["variables"] == {"x": None}

    task = service("t", '=if k = null then null else "t"')
    key = h.start(one_task(task))
    incident = h.open_incidents(key)[0]
    assert incident["errorType"] == "EXTRACT_VALUE_ERROR"
    assert "job type" in incident["message"]
    assert h.instance(key)["state"] == "failed"
    assert h.active_jobs(key) == []


def test_output_mappings_see_completion_variables(h: Harness) -> None:
    task = service("t", "w", outputs={"r": "=count(items)"})
    key = h.start(one_task(task))
    h.complete(key, "t", items=[1, 2, 3])
    assert h.instance(key)["variables"] == {"r": 3}


def test_output_mapping_error_incident_retries_the_completion(h: Harness) -> None:
    # A range has no JSON form: the output mapping fails after the job completed.
    task = service("t", "w", outputs={"r": "=if ok then 1 else [1..2]"})
    key = h.start(one_task(task))
    h.complete(key, "t", ok=False)
    [incident] = h.open_incidents(key)
    assert incident["errorType"] == "IO_MAPPING_ERROR"
    assert incident["elementId"] == "t"
    assert h.jobs(key)[0]["state"] == "completed"
    assert h.instance(key)["state"] == "failed"
    h.ok("resolve_incident", incidentKey=incident["key"])  # same completion, same failure
    assert len(h.open_incidents(key)) == 1 and len(h.incidents(key)) == 2


def test_completion_variables_replace_values(h: Harness) -> None:
    key = h.start(one_task(service("t", "w")), {"a": 1, "b": {"x": 1}})
    h.complete(key, "t", b={"y": 2})
    assert h.instance(key)["variables"] == {"a": 1, "b": {"y": 2}}


def test_message_throw_events_with_a_task_definition_are_jobs(h: Harness) -> None:
    ext = '<bpmn:extensionElements><zeebe:taskDefinition type="{}"/></bpmn:extensionElements>'
    body = (
        start()
        + '<bpmn:intermediateThrowEvent id="notify">'
        + ext.format("notify")
        + "<bpmn:messageEventDefinition/></bpmn:intermediateThrowEvent>"
        + '<bpmn:endEvent id="reply">'
        + ext.format("reply")
        + "<bpmn:messageEventDefinition/></bpmn:endEvent>"
        + chain("start", "notify", "reply")
    )
    key = h.start(bpmn(body))
    assert h.job(key, "notify")["type"] == "notify"
    h.complete(key, "notify")
    h.complete(key, "reply")
    assert h.instance(key)["state"] == "completed"


def test_job_type_expression_with_an_unusable_name_is_an_incident(h: Harness) -> None:
    for expression, problem in (('=string join(["a", "b"], "\\u0000")', "NUL"), ('="y" * 3', "")):
        key = h.start(one_task(service("t", expression)))
        [incident] = h.open_incidents(key)
        assert incident["errorType"] == "EXTRACT_VALUE_ERROR" and problem in incident["message"]
