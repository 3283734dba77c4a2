"""What the cluster tests share besides `support`: the two models they deploy and a job query.

Clusters themselves are `support.cluster.LocalCluster` (real `zennode` processes started like
`scripts/cluster up`, on reserved ports, REST calls retried on 503 as a client would)."""

from __future__ import annotations

from typing import Any

from support.bpmn import bpmn, chain, end, one_task, start
from support.cluster import LocalCluster

PROCESS_WITH_JOB = "cluster-job"
JOB_TYPE = "cluster-work"
PROCESS_WITHOUT_JOB = "cluster-straight"

STRAIGHT_XML = bpmn(start() + end() + chain("start", "end"), PROCESS_WITHOUT_JOB)
JOB_XML = one_task(PROCESS_WITH_JOB, JOB_TYPE)


def active_jobs(cluster: LocalCluster, node: int, size: int = 100) -> list[dict[str, Any]]:
    """The active jobs of JOB_TYPE, read through `node` (every partition)."""
    response = cluster.call("GET", node, f"/v1/jobs?state=active&jobType={JOB_TYPE}&size={size}")
    assert response.status_code == 200, response.text
    return [job for p in response.json()["partitions"] for job in p["items"]]
