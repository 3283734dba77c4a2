"""Signals: broadcast to every partition, caught by catch events, boundaries, event
sub-processes and (on the deployment partition only) start events."""

from __future__ import annotations

from support.bpmn import boundary, chain, definitions, end, flow, process, service, start

from .helpers import Partitions

SIGNALS = '<bpmn:signal id="S" name="go"/><bpmn:signal id="T" name="stop"/>'


def sig(ref: str) -> str:
    return f'<bpmn:signalEventDefinition signalRef="{ref}"/>'


def doc(body: str, pid: str = "p") -> str:
    return definitions(process(body, pid), errors=SIGNALS)


CATCH = doc(
    start()
    + f'<bpmn:intermediateCatchEvent id="wait">{sig("S")}</bpmn:intermediateCatchEvent>'
    + end()
    + chain("start", "wait", "end")
)


def broadcast(ps: Partitions, name: str, **fields: object) -> int:
    return sum(
        ps.ok(p, "broadcast_signal", signalName=name, **fields)["triggered"] for p in ps.parts
    )


def test_a_broadcast_wakes_waiting_instances_on_every_partition() -> None:
    ps = Partitions(3)
    ps.deploy(CATCH)
    keys = {
        p: ps.ok(p, "create_instance", bpmnProcessId="p")["processInstanceKey"] for p in ps.parts
    }
    assert broadcast(ps, "other") == 0
    assert broadcast(ps, "go", variables={"v": 1}) == 3
    for p, key in keys.items():
        view = ps[p].instance(key)
        assert view["state"] == "completed" and view["variables"] == {"v": 1}
    assert broadcast(ps, "go") == 0


def test_a_broadcast_gets_a_key_that_other_partitions_apply_once() -> None:
    """Node.broadcast_signal: partition 1 keys the signal, the others get that key."""
    ps = Partitions(2)
    ps.deploy(CATCH)
    waiting = ps.ok(2, "create_instance", bpmnProcessId="p")["processInstanceKey"]
    first = ps.ok(1, "broadcast_signal", signalName="go")
    key = first["signalKey"]
    assert key > 0 and key >> 51 == 1  # a key of partition 1
    assert ps.ok(1, "broadcast_signal", signalName="go")["signalKey"] != key  # a new signal
    copy = ps.ok(2, "broadcast_signal", signalName="go", signalKey=key)
    assert copy["signalKey"] == key and copy["triggered"] == 1
    assert ps[2].instance(waiting)["state"] == "completed"
    again = ps.ok(2, "broadcast_signal", signalName="go", signalKey=key)
    assert again["duplicate"] and again["triggered"] == 0


def test_thrown_signal_reaches_other_partitions_once_even_when_re_sent() -> None:
    thrower = doc(
        start()
        + f'<bpmn:intermediateThrowEvent id="throw">{sig("S")}</bpmn:intermediateThrowEvent>'
        + end()
        + chain("start", "throw", "end"),
        "thrower",
    )
    ps = Partitions(2)
    ps.deploy(CATCH)
    ps.deploy(thrower)
    waiting = [ps.ok(p, "create_instance", bpmnProcessId="p")["processInstanceKey"] for p in (1, 2)]
    created = ps[1].apply("create_instance", bpmnProcessId="thrower")  # not drained yet
    [relay] = [e["relay"] for e in created.events if e["event"] == "relay"]
    ps.drain(1, [{"event": "relay", "relay": relay}])
    assert [ps[p].instance(k)["state"] for p, k in zip((1, 2), waiting, strict=True)] == [
        "completed",
        "completed",
    ]
    again = [ps.ok(p, "create_instance", bpmnProcessId="p")["processInstanceKey"] for p in (1, 2)]
    ps.drain(1, [{"event": "relay", "relay": relay}])  # a re-sent copy: already seen
    assert all(ps[p].instance(k)["state"] == "active" for p, k in zip((1, 2), again, strict=True))


def test_signal_boundaries_and_start_event() -> None:
    xml = doc(
        start()
        + service("task", "work")
        + boundary("note", "task", sig("S"), interrupting=False)
        + boundary("halt", "task", sig("T"))
        + service("noted", "noted")
        + end()
        + end("e2")
        + end("e3")
        + chain("start", "task", "end")
        + flow("f1", "note", "noted")
        + flow("f2", "noted", "e2")
        + flow("f3", "halt", "e3")
    )
    ps = Partitions(2)
    ps.deploy(xml)
    key = ps.ok(2, "create_instance", bpmnProcessId="p")["processInstanceKey"]
    broadcast(ps, "go")
    broadcast(ps, "go")
    assert sorted(j["elementId"] for j in ps[2].active_jobs(key)) == ["noted", "noted", "task"]
    broadcast(ps, "stop")
    assert [j["elementId"] for j in ps[2].active_jobs(key)] == ["noted", "noted"]
    starter = doc(
        f'<bpmn:startEvent id="s">{sig("S")}</bpmn:startEvent>' + end() + chain("s", "end"),
        "starter",
    )
    ps.deploy(starter)
    started = [ps.ok(p, "broadcast_signal", signalName="go")["startedInstances"] for p in (1, 2)]
    assert len(started[0]) == 1 and started[1] == []
