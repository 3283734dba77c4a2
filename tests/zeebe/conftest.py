"""Fixtures for the Zeebe gateway tests: real node processes and real, unmodified clients.

- `single_node`: one node with two partitions (`zennode.cluster.launcher`, as
  `scripts/cluster up --nodes 1` starts it).
- `cluster3`: three nodes, three partitions, each replicated to all three.
- `zbctl`: the `zbctl` binary from the npm package `zbctl@8.4`, installed once into the
  pytest cache (the npm registry is the only network it needs).

Everything binds to 127.0.0.1 on ports below the ephemeral range, and every process started
here is stopped at the end of the session.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zeebe_installs import install_dir

from zennode.cluster import launcher
from zennode.config import PORT_OFFSET_RAFT_BASE

ZBCTL_PACKAGE = "zbctl@8.4"
NPM_TIMEOUT_S = 240
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


def _start(directory: Path, nodes: int, partitions: int) -> dict[str, Any]:
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


def _stop(cluster: dict[str, Any]) -> None:
    launcher.down(Path(cluster["nodes"][0]["config"]).parent)


@pytest.fixture(scope="session")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """cluster.json of a one-node, two-partition cluster; `["nodes"][0]["grpc"]` to connect."""
    directory = tmp_path_factory.mktemp("zeebe-single")
    cluster = _start(directory, nodes=1, partitions=2)
    try:
        yield cluster
    finally:
        _stop(cluster)


@pytest.fixture(scope="session")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """cluster.json of a three-node cluster (3 partitions, replication 3)."""
    directory = tmp_path_factory.mktemp("zeebe-cluster3")
    cluster = _start(directory, nodes=3, partitions=3)
    try:
        yield cluster
    finally:
        _stop(cluster)


def _works(binary: Path) -> bool:
    if not binary.is_file():
        return False
    try:
        done = subprocess.run([str(binary), "version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def zbctl(request: pytest.FixtureRequest) -> Path:
    """Path of a working zbctl 8.4 binary, installed from npm into the pytest cache once."""
    directory = install_dir(request, "zbctl-8.4")
    binary = directory / "node_modules" / "zbctl" / "bin" / "zbctl-cli.linux"
    if _works(binary):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        message = "npm is not installed: cannot install zbctl from the npm registry"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [npm, "install", ZBCTL_PACKAGE, "--prefix", str(directory), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
    )
    if done.returncode != 0:
        pytest.fail(f"npm install {ZBCTL_PACKAGE} failed:\n{done.stderr[-2000:]}")
    binary.chmod(0o755)
    assert _works(binary), f"{binary} does not run"
    return binary
