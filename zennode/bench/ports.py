"""Free TCP ports on 127.0.0.1 for the processes a benchmark starts.

Bases are picked below the ephemeral range (32768+) so a port the benchmark wants is not taken
meanwhile by an outgoing connection's local port.
"""

from __future__ import annotations

import random
import socket

BASE_PORT_MIN = 20_000
BASE_PORT_MAX = 32_000 - 400  # room for a few nodes' ports above the base


def free_port_base(partitions: int) -> int:
    """A --port-base whose ports (http, grpc, internal, raft per partition) are free now."""
    from zennode.config import PORT_OFFSET_RAFT_BASE

    for _ in range(200):
        base = random.randrange(BASE_PORT_MIN, BASE_PORT_MAX, 20)
        ports = [base, base + 1, base + 2]
        ports += [base + PORT_OFFSET_RAFT_BASE + p for p in range(1, partitions + 1)]
        if all(port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port range found")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_base(nodes: int, partitions: int) -> int:
    """A base port whose launcher layout (node i at base + 100 (i - 1)) is free now."""
    from zennode.cluster.launcher import NODE_PORT_STRIDE
    from zennode.config import PORT_OFFSET_RAFT_BASE

    for _ in range(200):
        base = random.randrange(BASE_PORT_MIN, BASE_PORT_MAX, NODE_PORT_STRIDE)
        ports = []
        for i in range(nodes):
            node = base + NODE_PORT_STRIDE * i
            ports += [node, node + 1, node + 2]
            ports += [node + PORT_OFFSET_RAFT_BASE + p for p in range(1, partitions + 1)]
        if all(port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port range for the cluster")
