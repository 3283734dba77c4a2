"""Gateway RPCs across a three-node cluster: every node answers for every partition."""

from __future__ import annotations

import asyncio
import json

import pytest
from pyzeebe.proto import gateway_pb2 as gw
from support.waits import eventually
from zeebe_client import Gateway
from zeebe_models import modifiable, service_task, unique

pytestmark = pytest.mark.timeout(120)


def test_every_node_reports_the_same_leaders(cluster3: dict) -> None:
    async def leaders(index: int) -> dict[int, int]:
        async with Gateway(cluster3, node_index=index) as g:
            topology = await g.stub.Topology(gw.TopologyRequest(), timeout=10)
        leader = gw.Partition.PartitionBrokerRole.LEADER
        return {
            p.partitionId: b.nodeId
            for b in topology.brokers
            for p in b.partitions
            if p.role == leader
        }

    async def scenario() -> None:
        seen = [await leaders(i) for i in range(3)]
        assert sorted(seen[0]) == [1, 2, 3]
        assert seen[0] == seen[1] == seen[2]

    asyncio.run(scenario())


def test_stream_and_poll_get_jobs_of_every_partition(cluster3: dict) -> None:
    streamed_id, streamed_type = unique("c-stream"), unique("c-stream-job")
    polled_id, polled_type = unique("c-poll"), unique("c-poll-job")

    async def scenario() -> None:
        async with (
            Gateway(cluster3, node_index=0) as first,
            Gateway(cluster3, node_index=2) as third,
        ):
            await first.deploy("s.bpmn", service_task(streamed_id, streamed_type))
            await first.deploy("p.bpmn", service_task(polled_id, polled_type))
            call = third.stub.StreamActivatedJobs(
                gw.StreamActivatedJobsRequest(type=streamed_type, worker="w", timeout=30_000),
                timeout=30,
            )
            await asyncio.sleep(0.5)  # the subscription reaches every partition's leader
            streamed = {await first.create(streamed_id, {"i": i}) for i in range(6)}
            assert {key >> 51 for key in streamed} == {1, 2, 3}
            pushed = [await asyncio.wait_for(call.read(), 10) for _ in streamed]
            assert {job.processInstanceKey for job in pushed} == streamed
            for job in pushed:
                await third.complete(job.key, {"streamed": True})
            call.cancel()

            polled = {await first.create(polled_id) for _ in range(6)}
            jobs: list[gw.ActivatedJob] = []
            for _ in range(5):  # a partition's jobs may come in a later poll
                jobs += await third.activate(polled_type, max_jobs=6, request_timeout_ms=5_000)
                if len(jobs) >= len(polled):
                    break
            assert {job.processInstanceKey for job in jobs} == polled
            for job in jobs:
                assert json.loads(job.customHeaders) == {"region": "eu"}
                await third.complete(job.key)
            for key in streamed | polled:
                await eventually(lambda k=key: _completed(first, k), 10, f"instance {key}")

    asyncio.run(scenario())


async def _completed(g: Gateway, key: int) -> bool:
    return (await g.instance(key))["state"] == "completed"


def test_modify_instances_of_every_partition_through_every_node(cluster3: dict) -> None:
    """ModifyProcessInstance on any node reaches the instance's partition leader (forwarded)."""
    process_id, job_type = unique("c-modify"), unique("c-modify-job")
    modify = gw.ModifyProcessInstanceRequest

    async def scenario() -> None:
        async with Gateway(cluster3, node_index=0) as first:
            await first.deploy("modify.bpmn", modifiable(process_id, job_type))
            keys = [await first.create(process_id) for _ in range(3)]
        assert len({key >> 51 for key in keys}) == 3  # one instance on every partition
        for index, key in enumerate(keys):
            async with Gateway(cluster3, node_index=index) as g:
                view = await g.instance(key)
                [task] = [e for e in view["activeElementInstances"] if e["elementId"] == "first"]
                move = modify(
                    processInstanceKey=key,
                    activateInstructions=[modify.ActivateInstruction(elementId="last")],
                    terminateInstructions=[
                        modify.TerminateInstruction(elementInstanceKey=task["elementInstanceKey"])
                    ],
                )
                await g.stub.ModifyProcessInstance(move, timeout=10)
        async with Gateway(cluster3, node_index=2) as third:
            for key in keys:
                view = await third.instance(key)
                assert [e["elementId"] for e in view["activeElementInstances"]] == ["last"]

    asyncio.run(scenario())
