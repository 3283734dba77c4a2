"""Random command sequences over timers, messages, call activities, multi-instance and event
sub-processes, on two partitions with in-line relays, keep the state consistent and replay
byte-identically.

Extra invariants beyond `test_invariants.check`: every timer row is held by exactly one waiting
owner (or is a timer start event), every instance-side subscription is held by its owner, and
every message-side subscription has its instance-side twin once the relays have settled.
"""

from __future__ import annotations

import random
from typing import Any

from support.bpmn import (
    boundary,
    chain,
    definitions,
    end,
    flow,
    gateway,
    message,
    message_catch,
    message_def,
    process,
    service,
    start,
    timer_catch,
    timer_def,
)

from zennode.engine import records
from zennode.engine.relay import pending_relays

from .helpers import Partitions
from .test_invariants import check

S = 1000
MI = (
    '<bpmn:multiInstanceLoopCharacteristics isSequential="{seq}"><bpmn:extensionElements>'
    '<zeebe:loopCharacteristics inputCollection="=items" inputElement="item" '
    'outputCollection="out" outputElement="=item"/></bpmn:extensionElements>'
    "</bpmn:multiInstanceLoopCharacteristics>"
)


def mi_service(tid: str, job_type: str, sequential: bool) -> str:
    return (
        f'<bpmn:serviceTask id="{tid}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{job_type}"/></bpmn:extensionElements>'
        + MI.format(seq="true" if sequential else "false")
        + "</bpmn:serviceTask>"
    )


CHILD = process(
    start()
    + service("ct", "C")
    + message_catch("cw", "M")
    + end()
    + chain("start", "ct", "cw", "end"),
    "child",
)
MAIN = process(
    start()
    + gateway("fork", "parallel")
    + mi_service("par", "P", False)
    + boundary("par_late", "par", timer_def("duration", "PT5S"))
    + mi_service("seq", "Q", True)
    + boundary("seq_note", "seq", timer_def("cycle", "R3/PT2S"), interrupting=False)
    + service("noted", "N")
    + '<bpmn:callActivity id="call"><bpmn:extensionElements>'
    '<zeebe:calledElement processId="child"/></bpmn:extensionElements></bpmn:callActivity>'
    + gateway("evg", "eventBased")
    + message_catch("paid", "M")
    + timer_catch("expire", "duration", "PT3S")
    + gateway("join", "parallel")
    + end()
    + end("e_late")
    + end("e_noted")
    + end("e_exp")
    + chain("start", "fork")
    + flow("a1", "fork", "par")
    + flow("a2", "fork", "seq")
    + flow("a3", "fork", "call")
    + flow("b1", "par", "join")
    + flow("b2", "seq", "join")
    + flow("b3", "call", "evg")
    + flow("b4", "evg", "paid")
    + flow("b5", "evg", "expire")
    + flow("b6", "paid", "join")
    + flow("b7", "expire", "e_exp")
    + chain("join", "end")
    + flow("c1", "par_late", "e_late")
    + flow("c2", "seq_note", "noted")
    + flow("c3", "noted", "e_noted")
    + '<bpmn:subProcess id="esp" triggeredByEvent="true">'
    '<bpmn:startEvent id="esp_s" isInterrupting="false">'
    + message_def("X")
    + "</bpmn:startEvent>"
    + end("esp_e")
    + flow("d1", "esp_s", "esp_e")
    + "</bpmn:subProcess>"
    + '<bpmn:subProcess id="sig_esp" triggeredByEvent="true">'
    '<bpmn:startEvent id="sig_s"><bpmn:signalEventDefinition signalRef="Halt"/>'
    "</bpmn:startEvent>"
    + '<bpmn:intermediateThrowEvent id="echo"><bpmn:signalEventDefinition signalRef="Echo"/>'
    "</bpmn:intermediateThrowEvent>"
    + end("sig_e")
    + chain("sig_s", "echo", "sig_e", prefix="h")
    + "</bpmn:subProcess>",
    "main",
)
SIGNALS = '<bpmn:signal id="Halt" name="halt"/><bpmn:signal id="Echo" name="echo"/>'
MODEL = definitions(
    CHILD,
    MAIN,
    errors=message("M", "pay", "=key") + message("X", "poke", "=key") + SIGNALS,
)
STEPS = 400


def extra_checks(ps: Partitions) -> None:
    for part in ps.parts.values():
        tables = part.store.tables
        instances = [records.loads(v) for v in tables["instances"].values()]
        held_timers: list[int] = []
        held_subs: list[int] = []
        for instance in instances:
            owners = [instance, *instance["elements"].values()]
            for owner in owners:
                held_timers += owner.get("timers", [])
                held_subs += owner.get("subs", [])
            if instance["state"] != "active":
                assert not instance.get("timers") and not instance.get("subs")
        timer_rows = [records.loads(v) for v in tables["timers"].values()]
        instance_timers = [t["key"] for t in timer_rows if t["processInstanceKey"] is not None]
        assert sorted(instance_timers) == sorted(held_timers)
        process_side = [
            records.from_u64(k[2:]) for k in tables["subscriptions"] if k.startswith(b"p\0")
        ]
        assert sorted(process_side) == sorted(held_subs)
        with part.store.read() as txn:
            assert pending_relays(txn) == []
    all_process_side = {
        records.from_u64(k[2:])
        for part in ps.parts.values()
        for k in part.store.tables["subscriptions"]
        if k.startswith(b"p\0")
    }
    for part in ps.parts.values():
        for key, raw in part.store.tables["subscriptions"].items():
            if key.startswith(b"m\0"):
                assert records.loads(raw)["subKey"] in all_process_side


def random_step(ps: Partitions, rng: random.Random) -> tuple[int, str, dict[str, Any]]:
    open_jobs = []
    for pid, part in ps.parts.items():
        for raw in part.store.tables["jobs"].values():
            job = records.loads(raw)
            if job["state"] in ("active", "activated"):
                open_jobs.append((pid, job))
    roll = rng.random()
    if roll < 0.12 or not open_jobs:
        variables = {"items": list(range(rng.randrange(0, 4))), "key": f"k{rng.randrange(6)}"}
        return (
            rng.randrange(1, 3),
            "create_instance",
            {"bpmnProcessId": "main", "variables": variables},
        )
    pid, job = rng.choice(open_jobs)
    if roll < 0.55:
        return pid, "complete_job", {"jobKey": job["key"], "variables": {}}
    if roll < 0.6:
        return pid, "fail_job", {"jobKey": job["key"], "retries": 0, "message": "x"}
    if roll < 0.75:
        from zennode.engine.relay import message_partition

        key = f"k{rng.randrange(6)}"
        name = rng.choice(["pay", "poke"])
        fields = {"messageName": name, "correlationKey": key, "timeToLive": rng.choice([0, 3 * S])}
        return message_partition(key, 2), "publish_message", fields
    if roll < 0.78:
        return rng.randrange(1, 3), "broadcast_signal", {"signalName": rng.choice(["halt", "x"])}
    if roll < 0.9:
        now = max(p.now_ms for p in ps.parts.values()) + rng.randrange(1, 4) * S
        return rng.randrange(1, 3), "trigger_timers", {"now_ms": now}
    instances = [
        (p, records.loads(v))
        for p, part in ps.parts.items()
        for v in part.store.tables["instances"].values()
    ]
    roots = [(p, i) for p, i in instances if i["state"] == "active" and not i.get("parent")]
    if roots:
        p, instance = rng.choice(roots)
        return p, "cancel_instance", {"processInstanceKey": instance["processInstanceKey"]}
    return pid, "complete_job", {"jobKey": job["key"], "variables": {}}


def run(seed: int) -> tuple[Partitions, dict[str, int]]:
    rng = random.Random(seed)
    ps = Partitions(2)
    ps.deploy(MODEL)
    counts: dict[str, int] = {}
    for _ in range(STEPS):
        pid, command, fields = random_step(ps, rng)
        if command == "trigger_timers":
            for part in ps.parts.values():
                part.now_ms = max(part.now_ms, fields["now_ms"])
        outcome = ps.apply(pid, command, **fields)
        assert outcome.error is None, (command, outcome.error)
        counts[command] = counts.get(command, 0) + 1
        for part in ps.parts.values():
            check(part)
        extra_checks(ps)
    return ps, counts


def test_random_event_commands_keep_invariants_and_replay_identically() -> None:
    first, counts = run(7)
    second, _ = run(7)
    for pid in first.parts:
        assert first[pid].snapshot() == second[pid].snapshot()
        assert first[pid].events == second[pid].events
    finished = sum(
        1
        for part in first.parts.values()
        for v in part.store.tables["instances"].values()
        if records.loads(v)["state"] == "completed"
    )
    print(counts, {"completed": finished, "relayed": first.relayed})
    assert finished > 0 and first.relayed > 0
    assert counts.get("trigger_timers", 0) > 0 and counts.get("publish_message", 0) > 0
