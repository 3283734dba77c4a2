"""Start and stop zennode clusters for the Zeebe tests (real node processes on 127.0.0.1)."""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any

from zennode.cluster import launcher
from zennode.config import PORT_OFFSET_RAFT_BASE

CLUSTER_UP_TIMEOUT_S = 60.0
START_ATTEMPTS = 2


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_base(nodes: int, partitions: int) -> int:
    """A base port whose whole `launcher.up` layout is free now (below the ephemeral range)."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000 - launcher.NODE_PORT_STRIDE * nodes, 20)
        wanted = []
        for i in range(1, nodes + 1):
            node_base = launcher.node_port_base(base, i)
            wanted += [node_base, node_base + 1, node_base + 2]
            wanted += [node_base + PORT_OFFSET_RAFT_BASE + p for p in range(1, partitions + 1)]
        if all(_port_free(port) for port in wanted):
            return base
    raise RuntimeError("no free port range found")


def start_cluster(directory: Path, nodes: int, partitions: int) -> dict[str, Any]:
    """`launcher.up` on free ports; once more on other ports if a node dies while starting.

    Free ports are checked before the nodes bind them, so another process on this shared
    machine can take one in between; `up` has already stopped what it started then.
    """
    for attempt in range(START_ATTEMPTS):
        try:
            return launcher.up(
                directory / f"try{attempt}",
                nodes=nodes,
                partitions=partitions,
                replication=nodes,
                base_port=free_cluster_base(nodes, partitions),
                timeout_s=CLUSTER_UP_TIMEOUT_S,
            )
        except RuntimeError:
            if attempt + 1 == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def stop_cluster(cluster: dict[str, Any]) -> None:
    launcher.down(Path(cluster["nodes"][0]["config"]).parent)
