"""The fault suites' view of a running cluster, through the REST API of its nodes: topology,
leaders, readiness, and waiting until every replica has converged."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

READY_S = 60.0
CONVERGE_S = 60.0


class Cluster:
    def __init__(self, directory: Path, info: dict[str, Any]) -> None:
        self.dir = directory
        self.urls = {n["id"]: n["http"] for n in info["nodes"]}
        self.grpc = [n["grpc"] for n in info["nodes"]]
        self.http = httpx.Client(timeout=15.0)

    def topology(self, node: int | None = None) -> dict[str, Any]:
        last: Exception | None = None
        for n in [node] if node is not None else sorted(self.urls):
            try:
                return self.http.get(f"{self.urls[n]}/v1/cluster/topology").json()
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
        raise RuntimeError(f"no node answers the topology: {last}")

    def leaders(self) -> dict[int, int | None]:
        return {p["id"]: p["leader"] for p in self.topology()["partitions"]}

    def any_url(self) -> str:
        return self.urls[1]

    def wait_ready(self, node: int) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            try:
                if self.http.get(f"{self.urls[node]}/system/health/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"node {node} not ready after {READY_S} s")

    def wait_converged(self) -> dict[str, Any]:
        """Until every replica of every partition is up with one digest and applied index."""
        deadline = time.monotonic() + CONVERGE_S
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.topology()
            except RuntimeError:
                time.sleep(0.5)
                continue
            if all(_agree(p) for p in last["partitions"]):
                return last
            time.sleep(0.5)
        raise AssertionError(f"replicas did not converge: {last.get('partitions')}")


def _agree(partition: dict[str, Any]) -> bool:
    replicas = partition["replicas"]
    if partition["leader"] is None or not all(r.get("up") for r in replicas):
        return False
    return len({(r.get("digest"), r.get("appliedIndex")) for r in replicas}) == 1
