"""`LocalCluster`: a local cluster of real `zennode` processes for tests, started with the
same launcher as `scripts/cluster up` on reserved free ports of 127.0.0.1, always stopped by
PID (`close`, or the end of a `with` block) — also when starting fails half-way.

`hosts`/`prefixes`/`base_port` start the nodes elsewhere than 127.0.0.1: the network-partition
suite runs each node in its own network namespace (an address and an `ip netns exec` prefix per
node), where ports cannot clash, so nothing is reserved.

Tests kill and restart single nodes with `zennode.tools.launcher` (`kill_node`,
`start_node`, `wait_for_leaders`) on `cluster.dir`; the ports stay reserved while a node is
down, so it comes back on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from support.ports import reserve_cluster
from support.rest import RETRY_S, RestClient
from support.waits import wait_until
from zennode.tools import launcher

UP_TIMEOUT_S = 60.0
CONVERGE_S = 30.0


class LocalCluster:
    """`LocalCluster(directory, nodes=3, partitions=3, replication=3, extra={...})`.

    `urls` / `grpc` map node id -> REST base URL / gRPC address; `info` is cluster.json;
    `rest` a `RestClient` shared by the helpers below.
    """

    def __init__(
        self,
        directory: Path,
        nodes: int = 3,
        partitions: int = 3,
        replication: int = 3,
        extra: dict[str, Any] | None = None,
        timeout_s: float = UP_TIMEOUT_S,
        *,
        hosts: dict[int, str] | None = None,
        prefixes: dict[int, list[str]] | None = None,
        base_port: int | None = None,
    ) -> None:
        self.dir = directory
        self.ports = reserve_cluster(nodes, partitions) if base_port is None else None
        self.rest = RestClient(timeout=20.0)
        try:
            self.info = launcher.up(
                directory,
                nodes=nodes,
                partitions=partitions,
                replication=replication,
                base_port=self.ports.base if self.ports is not None else base_port,
                timeout_s=timeout_s,
                extra=extra,
                hosts=hosts,
                prefixes=prefixes,
            )
        except BaseException:
            self.close()
            raise
        self.urls: dict[int, str] = {n["id"]: n["http"] for n in self.info["nodes"]}
        self.grpc: dict[int, str] = {n["id"]: n["grpc"] for n in self.info["nodes"]}

    def close(self) -> None:
        """Stop every node by PID, then give the ports back."""
        try:
            launcher.down(self.dir)
        finally:
            self.rest.close()
            if self.ports is not None:
                self.ports.release()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self, method: str, node: int, path: str, retry_s: float = RETRY_S, **kwargs: Any
    ) -> httpx.Response:
        """One REST call to `node`, retried on 503 (not acknowledged) for at most `retry_s`."""
        return self.rest.call(method, self.urls[node] + path, retry_s=retry_s, **kwargs)

    def topology(self, node: int | None = None, digests: bool = True) -> dict[str, Any]:
        """The topology as `node` sees it, or (default) the first node that answers;
        RuntimeError if none does."""
        flag = "true" if digests else "false"
        last: Exception | None = None
        for n in [node] if node is not None else sorted(self.urls):
            try:
                return self.rest.get(f"{self.urls[n]}/v1/cluster/topology?digests={flag}").json()
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
        raise RuntimeError(f"no node answers the topology: {last}")

    def leaders(self) -> dict[int, int | None]:
        """Partition id -> the node leading it (None: no leader now)."""
        return {p["id"]: p["leader"] for p in self.topology(digests=False)["partitions"]}

    def leader_of(self, partition_id: int) -> int:
        topology = launcher.wait_for_leaders(self.dir, 30, all_nodes=False)
        return next(p["leader"] for p in topology["partitions"] if p["id"] == partition_id)

    def wait_balanced(self, timeout_s: float = 30.0) -> dict[int, int]:
        return launcher.wait_balanced(self.dir, timeout_s)

    def wait_ready(self, node: int, timeout_s: float = UP_TIMEOUT_S) -> None:
        def ready() -> bool:
            try:
                return self.rest.get(f"{self.urls[node]}/system/health/ready").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout_s, f"node {node} to be ready", interval_s=0.2)

    def wait_converged(self, timeout_s: float = CONVERGE_S) -> dict[str, Any]:
        """Until every replica of every partition is up with one state digest and applied
        index (a node that does not answer yet is waited for); the topology then."""
        last: dict[str, Any] = {}

        def converged() -> bool:
            try:
                last.update(self.topology())
            except RuntimeError:
                return False
            return all(replicas_agree(p) for p in last["partitions"])

        try:
            wait_until(converged, timeout_s, "replicas to converge", interval_s=0.3)
        except AssertionError:
            raise AssertionError(f"replicas did not converge: {last.get('partitions')}") from None
        return last

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


def replicas_agree(partition: dict[str, Any]) -> bool:
    """A partition with a leader whose replicas are all up with one digest and applied index."""
    replicas = partition["replicas"]
    if partition["leader"] is None or not all(r.get("up") for r in replicas):
        return False
    return len({(r.get("digest"), r.get("appliedIndex")) for r in replicas}) == 1
