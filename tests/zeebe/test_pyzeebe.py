"""pyzeebe (unmodified, from PyPI) against a three-node zennode cluster.

The worker and the client connect to different nodes: commands and reads for partitions led
elsewhere are forwarded by the node, as a Zeebe gateway forwards to brokers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pyzeebe import ZeebeClient, ZeebeWorker, create_insecure_channel
from pyzeebe.errors import (
    BusinessError,
    MessageAlreadyExistsError,
    ProcessDefinitionNotFoundError,
)
from support.bpmn import message_wait, task_with_error_boundary
from support.waits import eventually
from zeebe_client import Gateway
from zeebe_models import service_task, unique

pytestmark = pytest.mark.timeout(180)

INSTANCES = 6  # enough to land on all three partitions (round robin)


@contextlib.asynccontextmanager
async def running(worker: ZeebeWorker) -> AsyncIterator[None]:
    """Run `worker.work()` in the background; stop it (bounded) when the block ends."""
    task = asyncio.ensure_future(worker.work())
    try:
        yield
    finally:
        await asyncio.wait_for(worker.stop(), 15)
        await asyncio.wait_for(task, 15)


def _worker(address: str) -> ZeebeWorker:
    # A short long-poll keeps the worker's shutdown quick; the node's default is 10 s.
    return ZeebeWorker(
        create_insecure_channel(grpc_address=address), name="py", request_timeout=1_000
    )


def test_pyzeebe_worker_and_client_run_processes_end_to_end(cluster3: dict, tmp_path: Path) -> None:
    order_id, order_type = unique("order"), unique("charge")
    boom_id, boom_type = unique("boom"), unique("explode")
    stock_id, stock_type = unique("stock"), unique("reserve")
    wait_id, message = unique("wait"), unique("paid")
    files = {
        "order.bpmn": service_task(order_id, order_type),
        "boom.bpmn": service_task(boom_id, boom_type, retries=2),
        "stock.bpmn": task_with_error_boundary(
            stock_id, stock_type, "OUT_OF_STOCK", handler_task=False
        ),
        "wait.bpmn": message_wait(wait_id, message),
    }
    for name, xml in files.items():
        (tmp_path / name).write_text(xml)
    client_address = cluster3["nodes"][0]["grpc"]
    worker_address = cluster3["nodes"][1]["grpc"]
    calls: dict[str, int] = {"explode": 0}

    async def scenario() -> None:
        client = ZeebeClient(create_insecure_channel(grpc_address=client_address))
        health = await client.healthcheck()
        assert health.status == 1  # SERVING
        topology = await client.topology()
        assert (topology.cluster_size, topology.partitions_count) == (3, 3)
        leaders = [
            p.partition_id
            for b in topology.brokers
            for p in b.partitions
            if p.role.name == "LEADER"
        ]
        assert sorted(leaders) == [1, 2, 3]

        deployed = await client.deploy_resource(*(tmp_path / name for name in files))
        assert {d.bpmn_process_id for d in deployed.deployments} == {
            order_id,
            boom_id,
            stock_id,
            wait_id,
        }
        with pytest.raises(ProcessDefinitionNotFoundError):
            await client.run_process(unique("missing"))

        worker = _worker(worker_address)

        @worker.task(task_type=order_type)
        async def charge(amount: int) -> dict[str, Any]:
            return {"charged": amount * 2}

        @worker.task(task_type=boom_type)
        async def explode() -> dict[str, Any]:
            calls["explode"] += 1
            raise RuntimeError("card reader on fire")

        @worker.task(task_type=stock_type)
        async def reserve() -> dict[str, Any]:
            raise BusinessError("OUT_OF_STOCK")

        async with running(worker):
            results = await asyncio.gather(
                *(
                    client.run_process_with_result(
                        order_id, {"amount": i}, timeout=20_000, variables_to_fetch=["charged"]
                    )
                    for i in range(INSTANCES)
                )
            )
            assert sorted(r.variables["charged"] for r in results) == [
                2 * i for i in range(INSTANCES)
            ]
            assert {r.process_instance_key >> 51 for r in results} == {1, 2, 3}

            caught = await client.run_process_with_result(stock_id, timeout=20_000)
            assert caught.process_instance_key > 0  # the boundary event ended it

            boom = await client.run_process(boom_id)
            async with Gateway(cluster3, node_index=2) as g:
                (incident,) = await eventually(
                    lambda: g.incidents(boom.process_instance_key), 20, "incident"
                )
                assert "card reader on fire" in str(incident)
                assert calls["explode"] == 2  # retries="2": tried twice, then the incident

                waiting = await client.run_process(wait_id, {"orderId": "o-77"})
                message_id = unique("m")
                await client.publish_message(
                    message, "o-77", {"paid": True}, 60_000, message_id=message_id
                )
                with pytest.raises(MessageAlreadyExistsError):
                    await client.publish_message(message, "o-77", {}, 60_000, message_id)

                async def completed() -> dict | None:
                    instance = await g.instance(waiting.process_instance_key)
                    return instance if instance["state"] == "completed" else None

                done = await eventually(completed, 20, "message correlated")
                assert done["variables"]["paid"] is True

    asyncio.run(scenario())
