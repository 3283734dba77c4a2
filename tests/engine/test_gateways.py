"""Exclusive, parallel and inclusive gateways; the per-command activation bound."""

from __future__ import annotations

from support.bpmn import bpmn, chain, end, flow, gateway, service, start

from .helpers import Harness


def exclusive_model(default: bool = True) -> str:
    body = (
        start()
        + gateway("g", default="to_c" if default else None)
        + service("a", "A")
        + service("b", "B")
        + service("c", "C")
        + end("e")
        + flow("f0", "start", "g")
        + flow("to_a", "g", "a", "=x > 10")
        + flow("to_b", "g", "b", '=x > 5 and kind = "b"')
        + (flow("to_c", "g", "c") if default else "")
        + chain("a", "e", prefix="fa")
        + chain("b", "e", prefix="fb")
        + chain("c", "e", prefix="fc")
    )
    return bpmn(body)


def test_exclusive_gateway_takes_the_first_true_condition(h: Harness) -> None:
    key = h.start(exclusive_model(), {"x": 20, "kind": "b"})
    assert h.waiting_at(key) == ["a"]
    key = h.start(exclusive_model(), {"x": 7, "kind": "b"})
    assert h.waiting_at(key) == ["b"]


def test_exclusive_gateway_default_flow_and_null_condition(h: Harness) -> None:
    key = h.start(exclusive_model(), {"x": 1})
    assert h.waiting_at(key) == ["c"]
    key = h.start(exclusive_model(), {})  # x is missing: conditions are null -> false
    assert h.waiting_at(key) == ["c"]


def test_exclusive_gateway_without_match_and_default_is_an_incident(h: Harness) -> None:
    key = h.start(exclusive_model(default=False), {"x": 1})
    incidents = h.open_incidents(key)
    assert [i["errorType"] for i in incidents] == ["CONDITION_ERROR"]
    assert incidents[0]["elementId"] == "g"
    assert "no outgoing sequence flow" in incidents[0]["message"]
    inst = h.instance(key)
    assert inst["state"] == "failed" and inst["incidents"] == 1
    assert [e["elementId"] for e in inst["activeElementInstances"]] == ["g"]
    # Resolving retries the gateway; still no match -> a new incident.
    h.ok("resolve_incident", incidentKey=incidents[0]["key"])
    assert len(h.open_incidents(key)) == 1
    assert len(h.incidents(key)) == 2


def test_non_boolean_condition_is_an_incident(h: Harness) -> None:
    key = h.start(exclusive_model(), {"x": "text"})
    # "text" > 10 is null in FEEL (null is false) so the default is taken.
    assert h.waiting_at(key) == ["c"]
    body = start() + gateway("g") + end("e") + flow("f0", "start", "g") + flow("f1", "g", "e", "=x")
    key = h.start(bpmn(body), {"x": 5})
    assert h.open_incidents(key)[0]["errorType"] == "CONDITION_ERROR"
    assert "boolean" in h.open_incidents(key)[0]["message"]


def parallel_model() -> str:
    body = (
        start()
        + gateway("fork", "parallel")
        + service("a", "A")
        + service("b", "B")
        + gateway("join", "parallel")
        + service("after", "After")
        + end("e")
        + flow("f0", "start", "fork")
        + flow("f1", "fork", "a")
        + flow("f2", "fork", "b")
        + flow("f3", "a", "join")
        + flow("f4", "b", "join")
        + chain("join", "after", "e")
    )
    return bpmn(body)


def test_parallel_fork_and_join(h: Harness) -> None:
    key = h.start(parallel_model())
    assert h.waiting_at(key) == ["a", "b"]
    h.complete(key, "b", fromB=1)
    assert h.waiting_at(key) == ["a"]
    assert h.active_jobs(key)[0]["elementId"] == "a"
    h.complete(key, "a", fromA=1)
    assert h.waiting_at(key) == ["after"]
    h.complete(key, "after")
    inst = h.instance(key)
    assert inst["state"] == "completed"
    assert inst["variables"] == {"fromA": 1, "fromB": 1}


def inclusive_model() -> str:
    body = (
        start()
        + gateway("fork", "inclusive", default="to_c")
        + service("a", "A")
        + service("b", "B")
        + service("c", "C")
        + gateway("join", "inclusive")
        + service("after", "After")
        + end("e")
        + flow("f0", "start", "fork")
        + flow("to_a", "fork", "a", "=wantA")
        + flow("to_b", "fork", "b", "=wantB")
        + flow("to_c", "fork", "c")
        + flow("fa", "a", "join")
        + flow("fb", "b", "join")
        + flow("fc", "c", "join")
        + chain("join", "after", "e")
    )
    return bpmn(body)


def test_inclusive_fork_takes_every_true_flow_and_join_waits_for_them(h: Harness) -> None:
    key = h.start(inclusive_model(), {"wantA": True, "wantB": True})
    assert h.waiting_at(key) == ["a", "b"]
    h.complete(key, "a")
    assert h.waiting_at(key) == ["b"]  # the join still waits for b
    h.complete(key, "b")
    assert h.waiting_at(key) == ["after"]
    h.complete(key, "after")
    assert h.instance(key)["state"] == "completed"


def test_inclusive_join_fires_when_no_other_token_can_arrive(h: Harness) -> None:
    key = h.start(inclusive_model(), {"wantA": True, "wantB": False})
    assert h.waiting_at(key) == ["a"]
    h.complete(key, "a")
    assert h.waiting_at(key) == ["after"]


def test_inclusive_fork_uses_default_when_nothing_matches(h: Harness) -> None:
    key = h.start(inclusive_model(), {"wantA": False, "wantB": False})
    assert h.waiting_at(key) == ["c"]
    h.complete(key, "c")
    assert h.waiting_at(key) == ["after"]


def test_gateway_loop_without_wait_state_is_stopped_by_an_incident() -> None:
    h = Harness(activations_max=500)
    body = (
        start()
        + gateway("g")
        + '<bpmn:task id="t"/>'
        + end("e")
        + flow("f0", "start", "g")
        + flow("f1", "g", "t", "=true")
        + flow("f2", "t", "g")
        + flow("f3", "g", "e", "=false")
    )
    key = h.start(bpmn(body))
    incidents = h.open_incidents(key)
    assert [i["errorType"] for i in incidents] == ["ACTIVATION_LIMIT_EXCEEDED"]
    assert "500" in incidents[0]["message"]
    assert h.instance(key)["state"] == "failed"


def test_parallel_fork_bomb_is_bounded() -> None:
    h = Harness(activations_max=1000)
    body = (
        start()
        + gateway("x")
        + gateway("p", "parallel")
        + flow("f0", "start", "x")
        + flow("f1", "x", "p")
        + flow("f2", "p", "x")
        + flow("f3", "p", "x")
    )
    key = h.start(bpmn(body))
    inst = h.instance(key)
    assert inst["state"] == "failed" and inst["incidents"] == 1
    assert len(inst["activeElementInstances"]) > 1  # every parked token is kept


def link(lid: str, name: str, throw: bool) -> str:
    tag = "intermediateThrowEvent" if throw else "intermediateCatchEvent"
    return f'<bpmn:{tag} id="{lid}"><bpmn:linkEventDefinition name="{name}"/></bpmn:{tag}>'


def test_link_events_jump_to_the_catch_event_of_the_same_name(h: Harness) -> None:
    body = (
        start()
        + link("go", "L", throw=True)
        + link("land", "L", throw=False)
        + service("t", "T")
        + end()
        + chain("start", "go")
        + chain("land", "t", "end")
    )
    key = h.start(bpmn(body))
    assert h.waiting_at(key) == ["t"]
    h.complete(key, "t")
    assert h.instance(key)["state"] == "completed"


def test_inclusive_join_sees_tokens_behind_a_link(h: Harness) -> None:
    body = (
        start()
        + gateway("fork", "inclusive")
        + service("a", "A")
        + link("go", "L", throw=True)
        + link("land", "L", throw=False)
        + gateway("join", "inclusive")
        + end()
        + chain("start", "fork")
        + flow("to_a", "fork", "a", "=true")
        + flow("to_go", "fork", "join", "=true")
        + chain("a", "go")
        + flow("from_land", "land", "join")
        + chain("join", "end")
    )
    key = h.start(bpmn(body))
    assert h.waiting_at(key) == ["a"]  # the join waits: a can still reach it through the link
    h.complete(key, "a")
    assert h.instance(key)["state"] == "completed"
