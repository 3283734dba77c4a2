"""A pyzeebe worker and client keep working when a node of the cluster is killed.

Its own three-node cluster (the shared one must stay whole for the other tests). The node
killed leads partition 1 and the clients talk to another node: partition 1 elects a new leader
while the worker polls and the client waits for results.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyzeebe import ZeebeClient, ZeebeWorker, create_insecure_channel
from pyzeebe.proto import gateway_pb2 as gw
from support.cluster import LocalCluster
from zeebe_client import Gateway
from zeebe_models import service_task, unique

from zennode.tools import launcher

pytestmark = pytest.mark.timeout(180)

BEFORE, AFTER = 6, 6


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with LocalCluster(tmp_path / "failover", nodes=3, partitions=3, replication=3) as started:
        yield started.info


async def _a_leader(cluster: dict[str, Any]) -> int:
    """The node that leads partition 1."""
    async with Gateway(cluster) as g:
        topology = await g.stub.Topology(gw.TopologyRequest(), timeout=10)
    leader = gw.Partition.PartitionBrokerRole.LEADER
    (node_id,) = [
        b.nodeId
        for b in topology.brokers
        if any(p.partitionId == 1 and p.role == leader for p in b.partitions)
    ]
    return node_id


def test_pyzeebe_survives_a_leader_node_being_killed(cluster: dict) -> None:
    process_id, job_type = unique("fo"), unique("fo-job")
    directory = Path(cluster["nodes"][0]["config"]).parent

    async def scenario() -> None:
        victim = await _a_leader(cluster)
        # The clients talk to another node; the victim leads at least partition 1.
        index = next(i for i, n in enumerate(cluster["nodes"]) if n["id"] != victim)
        channel = create_insecure_channel(grpc_address=cluster["nodes"][index]["grpc"])
        async with Gateway(cluster, node_index=index) as g:
            await g.deploy("fo.bpmn", service_task(process_id, job_type))
        worker = ZeebeWorker(channel, name="fo", request_timeout=1_000)

        @worker.task(task_type=job_type)
        async def work(n: int) -> dict[str, Any]:
            return {"twice": 2 * n}

        client = ZeebeClient(channel)
        running = asyncio.ensure_future(worker.work())
        try:

            async def run(n: int) -> int:
                result = await client.run_process_with_result(process_id, {"n": n}, timeout=30_000)
                return int(result.variables["twice"])

            assert [await run(n) for n in range(BEFORE)] == [2 * n for n in range(BEFORE)]
            await asyncio.to_thread(launcher.kill_node, directory, victim, signal.SIGKILL)
            after = [await run(n) for n in range(BEFORE, BEFORE + AFTER)]
            assert after == [2 * n for n in range(BEFORE, BEFORE + AFTER)]
            async with Gateway(cluster, node_index=index) as g:
                topology = await g.stub.Topology(gw.TopologyRequest(), timeout=10)
            leader = gw.Partition.PartitionBrokerRole.LEADER
            leaders = {
                p.partitionId for b in topology.brokers for p in b.partitions if p.role == leader
            }
            assert leaders == {1, 2, 3}  # every partition has a leader on the two live nodes
        finally:
            await asyncio.wait_for(worker.stop(), 15)
            await asyncio.wait_for(running, 15)

    asyncio.run(scenario())
