"""The leader-side drivers against a fake cluster client: the cross-partition relay applies a
command on its target(s) and then the ack on the source, keeps one subscription's relays in
order, leaves a failed relay to the sweep, and a new leader re-sends what is pending; the timer
driver submits `trigger_timers` only while its partition leads and something is due."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from engine.helpers import Partitions
from support.bpmn import bpmn, chain, end, one_task, start, timer_catch
from support.waits import eventually

from zennode.cluster.reads import run_read
from zennode.config import Limits
from zennode.drivers.partition_relay import WARN_AFTER_SENDS, PartitionRelay
from zennode.drivers.timers import TimerDriver
from zennode.engine.commands import (
    Command,
    CreateInstance,
    Deploy,
    DeployResources,
    PublishMessage,
    to_wire,
)
from zennode.engine.outcome import Outcome
from zennode.engine.relay import pending_relays
from zennode.errors import InvalidState, Unavailable
from zennode.service import Service


class FakePartition:
    def __init__(self, ps: Partitions, pid: int) -> None:
        self.ps, self.pid, self.is_leader = ps, pid, True

    @contextmanager
    def read(self):  # type: ignore[no-untyped-def]
        with self.ps[self.pid].store.read() as txn:
            yield txn


class FakeNode:
    """A `ClusterClient` whose `submit` applies on in-memory partitions (no relay draining: the
    relay under test does that); `fail_next` makes the next submits raise Unavailable."""

    def __init__(self, partitions: int) -> None:
        self.ps = Partitions(partitions)
        self.config = SimpleNamespace(partition_ids=range(1, partitions + 1))
        self.local_partitions = {p: FakePartition(self.ps, p) for p in self.ps.parts}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.submitted: list[tuple[int, str]] = []
        self.fail_next = 0
        self.listeners: list[Any] = []
        self.roles: list[Any] = []
        self.lock = threading.Lock()

    @property
    def partition_ids(self) -> list[int]:
        return list(self.config.partition_ids)

    def leads(self, partition_id: int) -> bool:
        return bool(self.local_partitions[partition_id].is_leader)

    def read_replica(self, partition_id: int, query: str, **args: Any) -> Any:
        with self.local_partitions[partition_id].read() as txn:
            return run_read(txn, query, args)

    def add_event_listener(self, fn: Any) -> None:
        self.listeners.append(fn)

    def add_role_listener(self, fn: Any) -> None:
        self.roles.append(fn)

    async def submit(self, partition_id: int, command: Command) -> Any:
        if self.fail_next:
            self.fail_next -= 1
            raise Unavailable("no leader", partition_id=partition_id)
        fields = {k: v for k, v in to_wire(command).items() if k != "type"}
        with self.lock:
            outcome = self.ps[partition_id].apply(command.TYPE, **fields)
        self.submitted.append((partition_id, command.TYPE))
        for fn in self.listeners:
            fn(partition_id, outcome.events)
        return outcome


MESSAGE_MODEL = """<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="w"/>
    <bpmn:intermediateCatchEvent id="w"><bpmn:messageEventDefinition messageRef="m"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="w" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
  <bpmn:message id="m" name="go"><bpmn:extensionElements>
    <zeebe:subscription correlationKey="=k"/></bpmn:extensionElements></bpmn:message>
</bpmn:definitions>"""


def leading_relay(node: FakeNode, sweep_s: float) -> PartitionRelay:
    """A relay on the running loop, its node leading every partition."""
    node.loop = asyncio.get_running_loop()
    relay = PartitionRelay(node, sweep_s=sweep_s)  # type: ignore[arg-type]
    for p in node.ps.parts:
        relay.on_role(p, True)
    return relay


def test_relay_opens_correlates_acknowledges_and_resends_after_failure() -> None:
    async def scenario() -> None:
        node = FakeNode(3)
        relay = leading_relay(node, 0.2)
        node.ps.deploy(MESSAGE_MODEL)
        created = await node.submit(1, CreateInstance(bpmn_process_id="p", variables={"k": "abc"}))
        key = created.unwrap()["processInstanceKey"]
        await eventually(lambda: "ack_relay" in [c for _, c in node.submitted], 5.0, "an ack")
        assert [c for _, c in node.submitted][1:3] == ["open_message_subscription", "ack_relay"]
        from zennode.engine.relay import message_partition

        target = message_partition("abc", 3)
        await node.submit(target, PublishMessage(message_name="go", correlation_key="abc"))
        node.fail_next = 1  # the correlation relay fails once: the sweep sends it again
        await eventually(lambda: node.ps[1].instance(key)["state"] == "completed", 5.0, "the end")
        assert node.fail_next == 0

        def nothing_pending() -> bool:
            for part in node.ps.parts.values():
                with part.store.read() as txn:
                    if pending_relays(txn):
                        return False
            return True

        await eventually(nothing_pending, 5.0, "no pending relays")
        await relay.stop()

    asyncio.run(scenario())


def test_a_new_leader_resends_pending_relays() -> None:
    async def scenario() -> None:
        node = FakeNode(2)
        node.loop = asyncio.get_running_loop()
        node.ps.deploy(MESSAGE_MODEL)
        # Applied while no relay ran (a leader that died before relaying).
        node.ps[1].apply("create_instance", bpmnProcessId="p", variables={"k": "q"})
        relay = PartitionRelay(node, sweep_s=60)  # type: ignore[arg-type]
        relay.on_role(1, True)
        await eventually(lambda: "ack_relay" in [c for _, c in node.submitted], 5.0, "an ack")
        assert relay.sent == 1
        await relay.stop()

    asyncio.run(scenario())


def test_a_refused_deployment_copy_stays_pending_and_is_re_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A copy refused with a final error is not acknowledged (the deployment would read as
    distributed while partition 2 lacks it): the sweep re-sends it until it is applied, and
    the refusal is logged at ERROR once, not once per re-send."""

    async def scenario() -> None:
        node = FakeNode(2)
        refusals = 3
        pending_when_refused: list[bool] = []
        applied = node.submit

        def distributed() -> bool:
            return bool(node.read_replica(1, "deployment_distributed", deployment_key=key))

        async def submit(partition_id: int, command: Command) -> Any:
            nonlocal refusals
            if partition_id == 2 and command.TYPE == "deploy_resources" and refusals:
                refusals -= 1
                pending_when_refused.append(not distributed())
                return Outcome(error=InvalidState("refused"))
            return await applied(partition_id, command)

        node.submit = submit  # type: ignore[method-assign]
        relay = leading_relay(node, 0.1)
        call = DeployResources((Deploy(xml=one_task("p", "work"), resource_name="p.bpmn"),))
        key = (await node.submit(1, call)).unwrap()["deploymentKey"]
        await eventually(distributed, 5.0, "the copy acknowledged")
        # re-sent after each refusal (none acknowledged it), then applied
        assert refusals == 0 and pending_when_refused == [True] * 3
        assert node.read_replica(2, "list_definitions", offset=0, limit=10)[1] == 1
        await relay.stop()

    with caplog.at_level(logging.DEBUG, logger="zennode.drivers.partition_relay"):
        asyncio.run(scenario())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused" in errors[0].getMessage()


def test_a_duplicate_deploy_call_sends_the_copy_again_and_waits_for_it() -> None:
    """A deployment partition 1 stored while partition 2 never got its copy (the old
    non-atomic path, or a first call whose outcome the client never saw): sending the same call
    again is a duplicate that repairs it, and answers once partition 2 has the copy."""

    async def scenario() -> None:
        node = FakeNode(2)

        async def read(partition_id: int, query: str, **args: Any) -> Any:
            return node.read_replica(partition_id, query, **args)

        node.read = read  # type: ignore[attr-defined]
        service = Service(node, Limits())  # type: ignore[arg-type]
        resources = [("p.bpmn", one_task("p", "work").encode())]
        first = node.ps[1].ok(
            "deploy_resources",
            resources=[to_wire(Deploy(xml=one_task("p", "work"), resource_name="p.bpmn"))],
        )  # no relay ran
        with node.ps[1].store.read() as txn:
            [copy] = pending_relays(txn)
        # acknowledged though partition 2 never applied it, as the old code could leave it
        node.ps[1].ok("ack_relay", **{k: v for k, v in copy["ack"].items() if k != "type"})
        relay = leading_relay(node, 60)  # no sweep: only the duplicate call's relay delivers
        [again] = await service.deploy_resources(resources)
        assert again["duplicate"] is True
        assert again["processes"][0]["deploymentKey"] == first["deploymentKey"]
        assert node.read_replica(2, "list_definitions", offset=0, limit=10)[1] == 1
        await relay.stop()

    asyncio.run(scenario())


def test_a_relay_that_keeps_failing_is_logged_at_warning_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        node = FakeNode(2)
        relay = leading_relay(node, 0.05)
        node.ps.deploy(MESSAGE_MODEL)
        await node.submit(1, CreateInstance(bpmn_process_id="p", variables={"k": "abc"}))
        node.fail_next = WARN_AFTER_SENDS + 2  # the subscription's relay: unavailable 7 times
        await eventually(lambda: "ack_relay" in [c for _, c in node.submitted], 5.0, "an ack")
        await relay.stop()

    with caplog.at_level(logging.DEBUG, logger="zennode.drivers.partition_relay"):
        asyncio.run(scenario())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"failed {WARN_AFTER_SENDS} times" in warnings[0].getMessage()


def test_timer_driver_fires_due_timers_only_while_leading() -> None:
    async def scenario() -> None:
        node = FakeNode(1)
        node.loop = asyncio.get_running_loop()
        xml = bpmn(
            start() + timer_catch("w", "duration", "PT0.2S") + end() + chain("start", "w", "end")
        )
        node.ps.deploy(xml)
        now = int(time.time() * 1000)
        key = node.ps[1].ok("create_instance", bpmnProcessId="p", now_ms=now)["processInstanceKey"]

        async def submit(partition_id: int, command: Command) -> Any:
            node.submitted.append((partition_id, command.TYPE))
            return node.ps[partition_id].apply(command.TYPE, now_ms=int(time.time() * 1000))

        node.submit = submit  # type: ignore[method-assign]
        driver = TimerDriver(node, poll_s=0.02)  # type: ignore[arg-type]
        node.local_partitions[1].is_leader = False
        driver.on_role(1, False)
        await asyncio.sleep(0.4)
        assert node.submitted == []  # not the leader: nothing fires
        node.local_partitions[1].is_leader = True
        driver.on_role(1, True)
        await eventually(lambda: node.ps[1].instance(key)["state"] == "completed", 5.0, "the end")
        await asyncio.sleep(0.1)
        assert node.submitted == [(1, "trigger_timers")]  # once: nothing else is due
        await driver.stop()

    asyncio.run(scenario())
