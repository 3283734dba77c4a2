"""The node's event loop (`event_loop` in the config): uvloop by default, the standard asyncio
loop as the off switch. A node on either loop serves REST and the gRPC job stream (grpc.aio
runs on the node's loop, so this is where uvloop could break it)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import httpx
import pytest
import uvloop
from support.bpmn import one_task
from support.nodes import NodeThread, node_config
from support.waits import wait_until

from zennode.config import default_config, parse_config
from zennode.errors import ConfigError
from zennode.event_loop import loop_factory
from zennode.node import Node
from zennode.worker import Worker

pytestmark = pytest.mark.timeout(60)


def test_uvloop_is_the_default() -> None:
    assert default_config().event_loop == "uvloop"
    loop = loop_factory("uvloop")()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_switches_to_the_standard_loop() -> None:
    assert parse_config("event_loop: asyncio").event_loop == "asyncio"
    loop = loop_factory("asyncio")()
    try:
        assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_an_unknown_loop_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="event_loop: 'tokio' is not one of uvloop, asyncio"):
        parse_config("event_loop: tokio")


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_a_node_on_either_loop_serves_rest_and_the_job_stream(
    tmp_path: Path, event_loop: str
) -> None:
    config = dataclasses.replace(node_config(tmp_path / "node"), event_loop=event_loop)
    node = NodeThread(Node(config, serve_http=True, serve_grpc=True)).start()
    try:
        assert isinstance(node.loop, uvloop.Loop) == (event_loop == "uvloop")
        assert node.call(_running_loop()) is node.loop
        node.call(node.node.service.deploy(one_task("p", "pay").encode()))
        with httpx.Client(base_url=node.url, timeout=15.0) as client:
            created = client.post("/v1/process-instances", json={"bpmnProcessId": "p"})
            assert created.status_code == 201, created.text
            key = created.json()["processInstanceKey"]
            asyncio.run(asyncio.wait_for(_work_one_job(node.address), 30))
            wait_until(
                lambda: client.get(f"/v1/process-instances/{key}").json()["state"] == "completed",
                15,
                "the instance to complete",
            )
            instance = client.get(f"/v1/process-instances/{key}").json()
            assert instance["variables"]["paid"] is True
    finally:
        node.stop()


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def _work_one_job(address: str) -> None:
    """An SDK worker (gRPC job stream) completes the one waiting `pay` job, then stops."""
    done = asyncio.Event()
    worker = Worker(address, client_id="loop-test")

    @worker.handler("pay")
    async def pay(job):  # type: ignore[no-untyped-def]
        done.set()  # an async handler runs on this loop: Event.set is safe here
        return {"paid": True}

    task = asyncio.ensure_future(worker.run())
    try:
        await worker.wait_connected()
        await done.wait()
    finally:
        await worker.stop(timeout=5)
        await asyncio.wait_for(task, 10)
