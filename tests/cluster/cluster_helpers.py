"""Helpers for tests against a real local cluster started by `zennode.cluster.launcher`
(the logic behind `scripts/cluster`): free ports on 127.0.0.1, bounded waits, HTTP calls that
retry 503 like a client does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from zennode.cluster import launcher

PROCESS_WITH_JOB = "cluster-job"
JOB_TYPE = "cluster-work"
PROCESS_WITHOUT_JOB = "cluster-straight"

STRAIGHT_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="d" targetNamespace="http://zennode.test">
  <bpmn:process id="{PROCESS_WITHOUT_JOB}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


JOB_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="http://zennode.test">
  <bpmn:process id="{PROCESS_WITH_JOB}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{JOB_TYPE}" retries="3"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


free_base_port = launcher.free_base_port


class Cluster:
    """A running local cluster: its directory, node URLs and a few bounded helpers."""

    def __init__(self, directory: Path, info: dict[str, Any]) -> None:
        self.dir = directory
        self.info = info
        self.urls = {n["id"]: n["http"] for n in info["nodes"]}
        self.client = httpx.Client(timeout=20.0)

    def close(self) -> None:
        self.client.close()

    def call(
        self, method: str, node: int, path: str, retry_s: float = 15.0, **kwargs: Any
    ) -> httpx.Response:
        """One REST call to `node`, retried on 503 (not acknowledged) for at most `retry_s`."""
        deadline = time.monotonic() + retry_s
        while True:
            response = self.client.request(method, self.urls[node] + path, **kwargs)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            time.sleep(0.1)

    def topology(self, node: int | None = None, digests: bool = True) -> dict[str, Any]:
        nodes = [node] if node is not None else sorted(self.urls)
        for n in nodes:
            try:
                flag = "true" if digests else "false"
                response = self.client.get(f"{self.urls[n]}/v1/cluster/topology?digests={flag}")
                return response.json()
            except httpx.HTTPError:
                continue
        raise RuntimeError("no node answers")

    def leader_of(self, partition_id: int) -> int:
        topology = launcher.wait_for_leaders(self.dir, 30, all_nodes=False)
        return next(p["leader"] for p in topology["partitions"] if p["id"] == partition_id)

    def wait_balanced(self, timeout_s: float = 30.0) -> dict[int, int]:
        return launcher.wait_balanced(self.dir, timeout_s)

    def wait_digests_equal(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Until every replica of every partition is up with the same digest and index."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.topology()
            if all(_replicas_agree(p) for p in last["partitions"]):
                return last
            time.sleep(0.3)
        raise AssertionError(f"replicas did not converge: {last['partitions']}")

    def deploy(self, xml: str, node: int = 1) -> dict[str, Any]:
        response = self.call(
            "POST",
            node,
            "/v1/process-definitions",
            content=xml.encode(),
            headers={"content-type": "application/xml"},
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def active_jobs(self, node: int, size: int = 100) -> list[dict[str, Any]]:
        response = self.call("GET", node, f"/v1/jobs?state=active&jobType={JOB_TYPE}&size={size}")
        assert response.status_code == 200, response.text
        return [job for p in response.json()["partitions"] for job in p["items"]]


def _replicas_agree(partition: dict[str, Any]) -> bool:
    replicas = partition["replicas"]
    if not all(r.get("up") for r in replicas) or partition["leader"] is None:
        return False
    return len({(r["digest"], r["appliedIndex"]) for r in replicas}) == 1
