"""A deployment of several resources on a real 3-node cluster (3 partitions, R=3): one
replicated command on partition 1, whose copy partition 1's leader relays to the others
(`deploy_resources`). Deployed through a node that does not lead partition 1, every definition
of it is then on every partition: an instance of each process (and the decision its
business rule task binds to by deployment) runs on each partition, created through that node.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.bpmn import bpmn, business_rule, chain, end, one_task, start
from support.cluster import LocalCluster
from support.dmn import discount_table

from zennode.engine.keys import partition_of
from zennode.service import key_partition

pytestmark = pytest.mark.timeout(240)

PARTITIONS = [1, 2, 3]


def rule_process() -> str:
    task = business_rule("decide", "discount", "result", binding="deployment")
    return bpmn(start() + task + end() + chain("start", "decide", "end"), "atomic-rules")


RESOURCES = [
    ("atomic-a.bpmn", one_task("atomic-a", "atomic-work")),
    ("discount.dmn", discount_table()),
    ("atomic-rules.bpmn", rule_process()),
    ("atomic-b.bpmn", one_task("atomic-b", "atomic-work")),
]


def idempotency_key_on(partition_id: int, tag: str) -> str:
    """An Idempotency-Key whose create lands on `partition_id` (the key picks the partition)."""
    for n in range(10_000):
        key = f"{tag}-{n}"
        if key_partition(key, PARTITIONS) == partition_id:
            return key
    raise AssertionError(f"no key for partition {partition_id}")


def create_on(cluster: LocalCluster, node: int, partition_id: int, body: dict[str, Any]) -> Any:
    key = idempotency_key_on(partition_id, f"{body['processDefinitionKey']}")
    response = cluster.call(
        "POST", node, "/v1/process-instances", json=body, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert partition_of(int(created["processInstanceKey"])) == partition_id
    return created


def test_a_multi_resource_deploy_reaches_every_partition(cluster: LocalCluster) -> None:
    deployment_leader = cluster.leader_of(1)
    node = next(n for n in sorted(cluster.urls) if n != deployment_leader)
    files = [("resources", (name, text.encode(), "application/xml")) for name, text in RESOURCES]
    response = cluster.call("POST", node, "/v1/deployments", files=files)
    assert response.status_code == 201, response.text
    deployed = response.json()
    deployment = deployed["deploymentKey"]
    processes = {p["bpmnProcessId"]: p for p in deployed["processes"]}
    assert set(processes) == {"atomic-a", "atomic-b", "atomic-rules"}
    assert {p["deploymentKey"] for p in processes.values()} == {deployment}
    assert [d["deploymentKey"] for d in deployed["decisions"]] == [deployment]
    for partition_id in PARTITIONS:
        for pid, process in processes.items():
            body: dict[str, Any] = {
                "processDefinitionKey": process["processDefinitionKey"],
                "variables": {"customer": "gold", "amount": 10},
            }
            created = create_on(cluster, node, partition_id, body)
            if pid == "atomic-rules":  # the decision was copied there too, with its deployment
                instance = cluster.call(
                    "GET", node, f"/v1/process-instances/{created['processInstanceKey']}"
                ).json()
                assert instance["state"] == "completed", instance
                assert instance["variables"]["result"] == 0.1
    again = cluster.call("POST", node, "/v1/deployments", files=files)
    assert again.status_code == 200, again.text  # unchanged: a duplicate of that deployment
    assert again.json()["deploymentKey"] == deployment
