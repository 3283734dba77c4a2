"""Escalations: caught by boundary events on sub-processes (interrupting or not) and by
event sub-processes; uncaught ones are no incident."""

from __future__ import annotations

from support.bpmn import bpmn, chain, end, flow, service, start

from .helpers import Harness

ESC = '<bpmn:escalation id="Esc" escalationCode="late"/>'


def esc(ref: str = "Esc") -> str:
    return f'<bpmn:escalationEventDefinition escalationRef="{ref}"/>'


def sub_with_throw(end_throw: bool) -> str:
    tag = "endEvent" if end_throw else "intermediateThrowEvent"
    inner = (
        start("s2")
        + f'<bpmn:{tag} id="raise">{esc()}</bpmn:{tag}>'
        + (
            chain("s2", "raise", prefix="g")
            if end_throw
            else service("after", "after")
            + end("e2")
            + chain("s2", "raise", "after", "e2", prefix="g")
        )
    )
    return f'<bpmn:subProcess id="sp">{inner}</bpmn:subProcess>'


def model(interrupting: bool, end_throw: bool = False) -> str:
    flag = "" if interrupting else ' cancelActivity="false"'
    return bpmn(
        start()
        + sub_with_throw(end_throw)
        + f'<bpmn:boundaryEvent id="caught" attachedToRef="sp"{flag}>{esc()}</bpmn:boundaryEvent>'
        + service("handle", "handle")
        + end()
        + end("e_h")
        + chain("start", "sp", "end")
        + flow("fh", "caught", "handle")
        + flow("fh2", "handle", "e_h"),
        errors=ESC,
    )


def test_interrupting_escalation_boundary_ends_the_sub_process() -> None:
    h = Harness()
    key = h.start(model(interrupting=True))
    assert h.waiting_at(key) == ["handle"]
    h.complete(key, "handle")
    assert h.instance(key)["state"] == "completed"


def test_non_interrupting_escalation_lets_the_thrower_go_on() -> None:
    h = Harness()
    key = h.start(model(interrupting=False))
    assert h.waiting_at(key) == ["after", "handle", "sp"]
    h.complete(key, "after")
    h.complete(key, "handle")
    assert h.instance(key)["state"] == "completed"


def test_uncaught_escalation_is_no_incident() -> None:
    h = Harness()
    xml = bpmn(
        start()
        + f'<bpmn:intermediateThrowEvent id="raise">{esc()}</bpmn:intermediateThrowEvent>'
        + end()
        + chain("start", "raise", "end"),
        errors=ESC,
    )
    key = h.start(xml)
    assert h.instance(key)["state"] == "completed" and not h.incidents(key)


def test_escalation_event_sub_process_non_interrupting() -> None:
    h = Harness()
    handler = (
        '<bpmn:subProcess id="esp" triggeredByEvent="true">'
        f'<bpmn:startEvent id="es" isInterrupting="false">{esc()}</bpmn:startEvent>'
        + service("note", "note")
        + end("ee")
        + chain("es", "note", "ee", prefix="x")
        + "</bpmn:subProcess>"
    )
    xml = bpmn(
        start()
        + f'<bpmn:intermediateThrowEvent id="raise">{esc()}</bpmn:intermediateThrowEvent>'
        + service("t", "work")
        + end()
        + chain("start", "raise", "t", "end")
        + handler,
        errors=ESC,
    )
    key = h.start(xml)
    assert h.waiting_at(key) == ["esp", "note", "t"]
    h.complete(key, "t")
    h.complete(key, "note")
    assert h.instance(key)["state"] == "completed"
