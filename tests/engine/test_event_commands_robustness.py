"""The cross-partition and timer commands reject malformed input with BadRequest and change
nothing; a cold engine (empty model cache) fires timers and messages exactly as a warm one."""

from __future__ import annotations

import pytest
from support.bpmn import (
    boundary,
    chain,
    definitions,
    end,
    message,
    message_catch,
    process,
    service,
    start,
    timer_def,
)

from zennode.engine import Engine
from zennode.errors import BadRequest

from .helpers import Harness

BAD = [
    ("publish_message", {}),
    ("publish_message", {"messageName": "", "correlationKey": "k"}),
    ("publish_message", {"messageName": "m", "correlationKey": True}),
    ("publish_message", {"messageName": "m", "timeToLive": -1}),
    ("publish_message", {"messageName": "m", "variables": [1]}),
    ("publish_message", {"messageName": "a\0b"}),
    ("open_message_subscription", {"subKey": "x"}),
    ("open_message_subscription", {"subKey": 1, "partitionId": 1}),
    ("close_message_subscription", {}),
    ("correlate_message", {"subKey": 1}),
    ("correlate_message", {"subKey": 1, "messageKey": 2, "variables": "v"}),
    ("ack_relay", {"kind": "nope", "subKey": 1}),
    ("ack_relay", {"kind": "delivery", "subKey": 1}),
    ("broadcast_signal", {}),
    ("broadcast_signal", {"signalName": "s", "signalKey": -3}),
    ("trigger_timers", {"limit": 0}),
    ("trigger_timers", {"limit": "all"}),
]


@pytest.mark.parametrize(("command", "fields"), BAD)
def test_malformed_event_commands_are_bad_requests(command: str, fields: dict) -> None:
    h = Harness()
    before = h.snapshot()
    outcome = h.apply(command, **fields)
    assert isinstance(outcome.error, BadRequest), outcome
    assert outcome.events == [] and h.snapshot() == before


MODEL = definitions(
    process(
        start()
        + service("t", "work")
        + boundary("late", "t", timer_def("cycle", "R2/PT1S"), interrupting=False)
        + message_catch("wait", "M")
        + end()
        + end("e2")
        + chain("start", "t", "wait", "end")
        + chain("late", "e2", prefix="b")
    ),
    errors=message("M", "go", "=k"),
)


def drive(h: Harness, cold: bool) -> None:
    original = h.apply

    def apply(command_type: str, **fields):  # type: ignore[no-untyped-def]
        if cold:
            h.engine = Engine(1)
        return original(command_type, **fields)

    h.apply = apply  # type: ignore[method-assign]
    h.deploy(MODEL)
    key = h.ok("create_instance", bpmnProcessId="p", variables={"k": "x"})["processInstanceKey"]
    h.ok("trigger_timers", now_ms=h.now_ms + 1000)
    h.ok("trigger_timers", now_ms=h.now_ms + 2000)
    h.complete(key, "t")
    h.ok("publish_message", messageName="go", correlationKey="x", timeToLive=5000)
    h.ok("trigger_timers", now_ms=h.now_ms + 10_000)


def test_a_cold_engine_fires_timers_and_messages_the_same_way() -> None:
    warm, cold = Harness(), Harness()
    drive(warm, cold=False)
    drive(cold, cold=True)
    assert warm.snapshot() == cold.snapshot()
    assert warm.events == cold.events
