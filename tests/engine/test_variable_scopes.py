"""Variable scopes as Zeebe has them (docs/bpmn-support.md, "Variable scopes").

Every element instance is a scope; input mappings make local variables; a write goes to the
nearest scope that has the variable, else to the process scope; output mappings and the
variables an element completes with follow Zeebe's propagation; SetVariables `local` stays in
the scope it names.
"""

from __future__ import annotations

from typing import Any

from support.bpmn import (
    attr as _attr,
)
from support.bpmn import (
    bpmn,
    chain,
    definitions,
    end,
    error,
    error_boundary,
    flow,
    message,
    message_catch,
    process,
    service,
    start,
)

from engine.helpers import Harness, Partitions


def io(inputs: dict[str, str | None] | None = None, outputs: dict[str, str] | None = None) -> str:
    """zeebe:ioMapping (a None source: a mapping without source)."""
    body = ""
    for target, source in (inputs or {}).items():
        src = "" if source is None else f' source="{_attr(source)}"'
        body += f'<zeebe:input{src} target="{target}"/>'
    for target, source in (outputs or {}).items():
        body += f'<zeebe:output source="{_attr(source)}" target="{target}"/>'
    mapping = f"<zeebe:ioMapping>{body}</zeebe:ioMapping>"
    return f"<bpmn:extensionElements>{mapping}</bpmn:extensionElements>"


def sub_process(
    sid: str, body: str, ext: str = "", loop: str = "", sequential: bool = False
) -> str:
    if loop:
        flag = "true" if sequential else "false"
        ext += (
            f'<bpmn:multiInstanceLoopCharacteristics isSequential="{flag}">'
            "<bpmn:extensionElements>"
            f"<zeebe:loopCharacteristics {loop}/></bpmn:extensionElements>"
            "</bpmn:multiInstanceLoopCharacteristics>"
        )
    return f'<bpmn:subProcess id="{sid}">{ext}{body}</bpmn:subProcess>'


def element(h: Harness, key: int, element_id: str) -> dict[str, Any]:
    [found] = [e for e in h.instance(key)["activeElementInstances"] if e["elementId"] == element_id]
    return found


def root(h: Harness, key: int) -> dict[str, Any]:
    return h.instance(key)["variables"]


INNER = start("s_in") + service("work", "work") + end("e_in") + chain("s_in", "work", "e_in")


def test_a_sub_process_input_mapping_makes_a_local_that_hides_the_outer_variable(
    h: Harness,
) -> None:
    body = (
        start()
        + sub_process("sp", INNER, io({"x": '="inner"', "empty": None}))
        + service("after", "after")
        + end()
        + chain("start", "sp", "after", "end")
    )
    key = h.start(bpmn(body), {"x": "outer"})
    assert h.job(key, "work")["variables"]["x"] == "inner"  # the task sees the nearest scope
    sp = element(h, key, "sp")
    assert sp["variables"] == {"x": "inner", "empty": None}  # the instance view, per scope
    assert element(h, key, "work")["scopeKey"] == sp["elementInstanceKey"]
    assert root(h, key) == {"x": "outer"}
    h.complete(key, "work")
    assert h.job(key, "after")["variables"] == {"x": "outer"}  # the scope ended with its locals


def test_a_write_goes_to_the_nearest_scope_that_has_the_variable_else_to_the_process(
    h: Harness,
) -> None:
    body = (
        start()
        + sub_process("sp", INNER, io({"total": "=0"}, {"result": "=total"}))
        + service("after", "after")
        + end()
        + chain("start", "sp", "after", "end")
    )
    key = h.start(bpmn(body), {"total": 100})
    h.complete(key, "work", total=5, fresh=1)
    variables = h.job(key, "after")["variables"]
    # total went to the sub-process's local (then out through its output mapping only);
    # fresh existed nowhere, so it was created in the process scope.
    assert variables == {"total": 100, "fresh": 1, "result": 5}


def test_job_variables_with_the_name_of_an_input_mapping_stay_in_the_task(h: Harness) -> None:
    """Zeebe: without output mappings the job's variables propagate from the task itself, so a
    name its input mappings declared is updated there and ends with the task."""
    body = (
        start()
        + service("t", "w", inputs={"amount": "=price"})
        + service("u", "w2", inputs={"amount": "=price"}, outputs={"paid": "=amount"})
        + service("after", "after")
        + end()
        + chain("start", "t", "u", "after", "end")
    )
    key = h.start(bpmn(body), {"price": 7})
    assert element(h, key, "t")["variables"] == {"amount": 7}
    h.complete(key, "t", amount=2, note="n")
    assert root(h, key) == {"price": 7, "note": "n"}
    h.complete(key, "u", amount=3, ignored=True)  # with outputs: only their targets leave
    assert h.job(key, "after")["variables"] == {"price": 7, "note": "n", "paid": 3}


def _mi_sub_process(declare: bool) -> str:
    inputs = io({"result": None}) if declare else ""
    loop = 'inputCollection="=items" inputElement="item" outputCollection="results" '
    loop += 'outputElement="=result"'
    inner = start("s_in") + service("work", "work") + end("e_in") + chain("s_in", "work", "e_in")
    return bpmn(
        start()
        + sub_process("sp", inner, inputs, loop=loop)
        + service("after", "after")
        + end()
        + chain("start", "sp", "after", "end")
    )


def test_parallel_multi_instance_sub_processes_writing_the_same_declared_name_keep_it_apart(
    h: Harness,
) -> None:
    key = h.start(_mi_sub_process(declare=True), {"items": [1, 2, 3]})
    jobs = sorted(h.active_jobs(key), key=lambda j: j["variables"]["item"])
    assert [j["variables"]["item"] for j in jobs] == [1, 2, 3]
    iterations = [
        e
        for e in h.instance(key)["activeElementInstances"]
        if e["elementType"] == "multiInstanceIteration"
    ]
    assert sorted(i["variables"]["item"] for i in iterations) == [1, 2, 3]
    assert all("result" in i["variables"] for i in iterations)
    for job in reversed(jobs):  # the last one completes first
        h.ok("complete_job", jobKey=job["key"], variables={"result": job["variables"]["item"] * 10})
    variables = h.job(key, "after")["variables"]
    assert variables["results"] == [10, 20, 30]
    assert "result" not in variables  # it lived in each iteration only


def test_parallel_multi_instance_writes_of_an_undeclared_name_go_to_the_process_scope(
    h: Harness,
) -> None:
    """Zeebe's rule: a name no scope has is created in the process scope, so parallel
    iterations share it (declare it with an input mapping to keep it per iteration)."""
    key = h.start(_mi_sub_process(declare=False), {"items": [1, 2, 3]})
    jobs = sorted(h.active_jobs(key), key=lambda j: j["variables"]["item"])
    for job in jobs:
        h.ok("complete_job", jobKey=job["key"], variables={"result": job["variables"]["item"] * 10})
    variables = h.job(key, "after")["variables"]
    assert variables["result"] == 30 and variables["results"] == [10, 20, 30]


def test_multi_instance_task_outputs_and_job_variables_stay_in_each_iteration(h: Harness) -> None:
    loop = (
        '<bpmn:multiInstanceLoopCharacteristics isSequential="false"><bpmn:extensionElements>'
        '<zeebe:loopCharacteristics inputCollection="=items" inputElement="item" '
        'outputCollection="doubled" outputElement="=twice"/></bpmn:extensionElements>'
        "</bpmn:multiInstanceLoopCharacteristics>"
    )
    task = (
        '<bpmn:serviceTask id="t"><bpmn:extensionElements><zeebe:taskDefinition type="w"/>'
        '<zeebe:ioMapping><zeebe:input source="=item" target="n"/>'
        '<zeebe:output source="=n * 2" target="twice"/></zeebe:ioMapping>'
        f"</bpmn:extensionElements>{loop}</bpmn:serviceTask>"
    )
    body = start() + task + service("after", "after") + end() + chain("start", "t", "after", "end")
    key = h.start(bpmn(body), {"items": [1, 2]})
    jobs = h.active_jobs(key)
    assert sorted(j["variables"]["n"] for j in jobs) == [1, 2]
    for job in jobs:
        h.ok("complete_job", jobKey=job["key"], variables={"n": job["variables"]["n"] + 100})
    variables = h.job(key, "after")["variables"]
    # Each output mapping reads its iteration's own `n` (updated by its job); its target
    # `twice` is created in the process scope (no scope had it), where the output element
    # reads it right after.
    assert variables["doubled"] == [202, 204] and variables["twice"] == 204
    assert "n" not in variables and "item" not in variables


def test_set_variables_local_stays_in_its_scope_and_non_local_propagates(h: Harness) -> None:
    body = (
        start()
        + sub_process("sp", INNER, io({"x": "=0"}))
        + service("after", "after")
        + end()
        + chain("start", "sp", "after", "end")
    )
    key = h.start(bpmn(body))
    sp = element(h, key, "sp")["elementInstanceKey"]
    h.ok("set_variables", elementInstanceKey=sp, variables={"y": 1}, local=True)
    h.ok("set_variables", elementInstanceKey=sp, variables={"x": 2, "z": 3})
    assert element(h, key, "sp")["variables"] == {"x": 2, "y": 1}
    assert root(h, key) == {"z": 3}
    work = element(h, key, "work")["elementInstanceKey"]
    h.ok("set_variables", elementInstanceKey=work, variables={"y": 4})  # nearest: sp's y
    assert element(h, key, "sp")["variables"] == {"x": 2, "y": 4}
    h.ok("set_variables", processInstanceKey=key, variables={"y": 5}, local=True)
    assert root(h, key) == {"z": 3, "y": 5}
    job = h.job(key, "work")
    activated = h.ok(
        "activate_jobs", jobType="work", worker="w", timeoutMs=1000, maxJobs=1, jobKeys=[job["key"]]
    )["jobs"]
    assert activated[0]["variables"] == {"z": 3, "y": 4, "x": 2}  # refreshed, nearest wins
    outcome = h.apply("set_variables", elementInstanceKey=key + 999_999, variables={"a": 1})
    assert outcome.error is not None


def test_output_mappings_apply_in_order_and_dotted_targets_keep_the_other_fields(
    h: Harness,
) -> None:
    outputs = '<zeebe:output source="=r" target="order.total"/>'
    outputs += '<zeebe:output source="=order.total + 1" target="next"/>'
    task = (
        '<bpmn:serviceTask id="t"><bpmn:extensionElements><zeebe:taskDefinition type="w"/>'
        f"<zeebe:ioMapping>{outputs}</zeebe:ioMapping></bpmn:extensionElements></bpmn:serviceTask>"
    )
    body = start() + task + service("after", "a") + end() + chain("start", "t", "after", "end")
    key = h.start(bpmn(body), {"order": {"id": 7, "total": 0}})
    h.complete(key, "t", r=10)
    assert h.job(key, "after")["variables"] == {"order": {"id": 7, "total": 10}, "next": 11}


def test_error_variables_propagate_from_the_catching_boundary(h: Harness) -> None:
    body = (
        start()
        + sub_process("sp", INNER, io({"detail": "=null"}))
        + error_boundary("caught", "sp", "Err")
        + service("handle", "handle")
        + end()
        + end("end2")
        + chain("start", "sp", "end")
        + flow("fc", "caught", "handle")
        + chain("handle", "end2")
    )
    key = h.start(bpmn(body, errors=error("Err", "E1")))
    job = h.job(key, "work")
    h.ok("fail_job", jobKey=job["key"], errorCode="E1", variables={"detail": "why"})
    assert h.job(key, "handle")["variables"] == {"detail": "why"}  # sp (and its local) is gone


def test_a_called_child_error_brings_its_variables_to_the_parent() -> None:
    ps = Partitions(1)
    child = process(
        start("cs") + service("cw", "child-work") + end("ce") + chain("cs", "cw", "ce"), "child"
    )
    parent = process(
        start() + '<bpmn:callActivity id="call"><bpmn:extensionElements>'
        '<zeebe:calledElement processId="child"/></bpmn:extensionElements></bpmn:callActivity>'
        + error_boundary("caught", "call", "Err")
        + service("handle", "handle")
        + end()
        + end("end2")
        + chain("start", "call", "end")
        + flow("fc", "caught", "handle")
        + chain("handle", "end2"),
        "parent",
    )
    ps.deploy(definitions(child, parent, errors=error("Err", "E1")))
    key = ps.ok(1, "create_instance", bpmnProcessId="parent")["processInstanceKey"]
    [job] = [j for j in ps[1].jobs() if j["type"] == "child-work"]
    ps.ok(1, "fail_job", jobKey=job["key"], errorCode="E1", variables={"why": "out of stock"})
    assert ps[1].job(key, "handle")["variables"]["why"] == "out of stock"


def test_call_activity_output_mappings_see_its_input_locals_and_the_child_variables() -> None:
    ps = Partitions(1)
    child = process(
        start("cs") + service("cw", "child-work") + end("ce") + chain("cs", "cw", "ce"), "child"
    )
    parent = process(
        start() + '<bpmn:callActivity id="call"><bpmn:extensionElements>'
        '<zeebe:calledElement processId="child" propagateAllParentVariables="false"/>'
        '<zeebe:ioMapping><zeebe:input source="=base" target="b"/>'
        '<zeebe:output source="=b + made" target="sum"/></zeebe:ioMapping>'
        "</bpmn:extensionElements></bpmn:callActivity>"
        + service("after", "after")
        + end()
        + chain("start", "call", "after", "end"),
        "parent",
    )
    ps.deploy(definitions(child, parent))
    key = ps.ok(1, "create_instance", bpmnProcessId="parent", variables={"base": 40, "x": 1})[
        "processInstanceKey"
    ]
    [job] = [j for j in ps[1].jobs() if j["type"] == "child-work"]
    assert job["variables"] == {"b": 40}  # the child got only the inputs
    ps.ok(1, "complete_job", jobKey=job["key"], variables={"made": 2})
    assert ps[1].job(key, "after")["variables"] == {"base": 40, "x": 1, "sum": 42}


def test_message_variables_propagate_from_the_catch_event_and_its_locals_stay() -> None:
    ps = Partitions(1)
    catch = message_catch("wait", "M").replace(
        "<bpmn:messageEventDefinition", io({"key": "=orderId"}) + "<bpmn:messageEventDefinition"
    )
    body = (
        start() + catch + service("after", "after") + end() + chain("start", "wait", "after", "end")
    )
    ps.deploy(definitions(process(body), errors=message("M", "msg", "=key")))
    key = ps.ok(1, "create_instance", bpmnProcessId="p", variables={"orderId": "o-1"})[
        "processInstanceKey"
    ]
    assert element(ps[1], key, "wait")["variables"] == {"key": "o-1"}
    ps.publish("msg", "o-1", variables={"key": "changed", "paid": True})
    # `key` was the catch event's local: the message's value of it ended with the event.
    assert ps[1].job(key, "after")["variables"] == {"orderId": "o-1", "paid": True}
