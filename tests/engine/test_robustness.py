"""Replica properties: a fresh engine (empty cache) computes the same state; bad values never
half-apply; incidents of every kind can be resolved."""

from __future__ import annotations

import math

from support.bpmn import bpmn, chain, end, error_boundary, flow, gateway, service, start

from zennode.engine import Engine
from zennode.errors import BadRequest

from .helpers import Harness

MODEL = bpmn(
    start()
    + service("t", "work", inputs={"n": "=n"}, outputs={"doubled": "=n * 2"})
    + gateway("g", default="low")
    + service("hi", "high")
    + end()
    + chain("start", "t", "g")
    + flow("high", "g", "hi", "=doubled > 2")
    + flow("low", "g", "end")
    + chain("hi", "end", prefix="h")
)


def drive(h: Harness, restart_engine_each_command: bool) -> None:
    """The same commands; optionally a new Engine (cold cache) before every command."""
    original_apply = h.apply

    def apply(command_type: str, **fields):  # type: ignore[no-untyped-def]
        if restart_engine_each_command:
            h.engine = Engine(1)
        return original_apply(command_type, **fields)

    h.apply = apply  # type: ignore[method-assign]
    h.deploy(MODEL)
    keys = [
        h.ok("create_instance", bpmnProcessId="p", variables={"n": n})["processInstanceKey"]
        for n in range(4)
    ]
    for key in keys:
        h.complete(key, "t")
    for key in keys[2:]:
        h.complete(key, "hi")


def test_a_cold_engine_computes_exactly_the_same_state() -> None:
    warm, cold = Harness(), Harness()
    drive(warm, restart_engine_each_command=False)
    drive(cold, restart_engine_each_command=True)
    assert warm.snapshot() == cold.snapshot()
    assert warm.events == cold.events


def test_values_without_json_form_reject_the_command_and_change_nothing(h: Harness) -> None:
    key = h.start(bpmn(start() + service("t", "work") + end() + chain("start", "t", "end")))
    job = h.job(key, "t")
    before = h.snapshot()
    for bad in ({"x": math.nan}, {"x": object()}, {"x": {1, 2}}):
        outcome = h.apply("complete_job", jobKey=job["key"], variables=bad)
        assert isinstance(outcome.error, BadRequest) and outcome.events == []
        assert h.snapshot() == before
    deep: dict = {}
    node = deep
    for _ in range(100_000):
        node["x"] = {}
        node = node["x"]
    outcome = h.apply("create_instance", bpmnProcessId="p", variables=deep)
    assert outcome.error is not None
    assert isinstance(outcome.error, BadRequest)
    assert h.snapshot() == before


def test_loop_limit_incident_resolves_into_another_bounded_run() -> None:
    h = Harness(activations_max=100)
    body = (
        start()
        + gateway("g")
        + '<bpmn:task id="t"/>'
        + end("e")
        + flow("f0", "start", "g")
        + flow("f1", "g", "t", "=go")
        + flow("f2", "t", "g")
        + flow("f3", "g", "e", "=not(go)")
    )
    key = h.start(bpmn(body), {"go": True})
    [incident] = h.open_incidents(key)
    h.ok("set_variables", processInstanceKey=key, variables={"go": False})
    h.ok("resolve_incident", incidentKey=incident["key"])
    assert h.instance(key)["state"] == "completed"


def test_sub_process_output_mapping_incident_and_resolution(h: Harness) -> None:
    inner = start("s_in") + end("e_in") + chain("s_in", "e_in")
    sub = (
        '<bpmn:subProcess id="sp"><bpmn:extensionElements><zeebe:ioMapping>'
        '<zeebe:output source="=if ok then 1 else [1..2]" target="r"/>'
        f"</zeebe:ioMapping></bpmn:extensionElements>{inner}</bpmn:subProcess>"
    )
    key = h.start(bpmn(start() + sub + end() + chain("start", "sp", "end")), {"ok": False})
    [incident] = h.open_incidents(key)
    assert incident["elementId"] == "sp" and incident["errorType"] == "IO_MAPPING_ERROR"
    h.ok("set_variables", processInstanceKey=key, variables={"ok": True})
    h.ok("resolve_incident", incidentKey=incident["key"])
    inst = h.instance(key)
    assert inst["state"] == "completed" and inst["variables"]["r"] == 1


def test_gateway_incident_resolves_after_variables_change(h: Harness) -> None:
    body = (
        start()
        + gateway("g")
        + end("a")
        + flow("f0", "start", "g")
        + flow("f1", "g", "a", "=x > 1")
    )
    key = h.start(bpmn(body), {"x": 0})
    [incident] = h.open_incidents(key)
    h.ok("set_variables", processInstanceKey=key, variables={"x": 2})
    h.ok("resolve_incident", incidentKey=incident["key"])
    assert h.instance(key)["state"] == "completed"


def test_shared_limit_incident_stays_open_while_a_parked_token_remains() -> None:
    """Tokens parked by the activation limit in two scopes share one incident; interrupting
    one scope must not close it while the other token still waits."""
    h = Harness(activations_max=40)
    inner = (
        start("s_in")
        + gateway("fork2", "parallel")
        + service("w", "W")
        + gateway("x")
        + end("w_end")
        + chain("s_in", "fork2")
        + flow("i1", "fork2", "w")
        + flow("i2", "fork2", "x")
        + flow("i3", "x", "x", "=true")
        + chain("w", "w_end")
    )
    body = (
        start()
        + gateway("fork", "parallel")
        + f'<bpmn:subProcess id="sp">{inner}</bpmn:subProcess>'
        + error_boundary("catch", "sp")
        + gateway("y")
        + end("e1")
        + end("e2")
        + end("sp_end")
        + chain("start", "fork")
        + flow("f1", "fork", "sp")
        + flow("f2", "fork", "y")
        + flow("f3", "y", "y", "=go")
        + flow("f4", "y", "e1", "=not(go)")
        + chain("catch", "e2")
        + chain("sp", "sp_end")
    )
    key = h.start(bpmn(body), {"go": True})
    [incident] = h.open_incidents(key)
    parked = {e["elementId"] for e in h.instance(key)["activeElementInstances"]}
    assert {"x", "y", "w", "sp"} <= parked
    h.ok("fail_job", jobKey=h.job(key, "w")["key"], errorCode="E")  # interrupts sp
    assert [i["key"] for i in h.open_incidents(key)] == [incident["key"]]
    assert h.waiting_at(key) == ["y"]
    h.ok("set_variables", processInstanceKey=key, variables={"go": False})
    h.ok("resolve_incident", incidentKey=incident["key"])
    assert h.instance(key)["state"] == "completed"
