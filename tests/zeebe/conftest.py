"""Fixtures for the Zeebe gateway tests: real node processes and real, unmodified clients.

- `single_node`: one node with two partitions (`zennode.tools.launcher`, as
  `scripts/cluster up --nodes 1` starts it).
- `cluster3`: three nodes, three partitions, each replicated to all three.
- `zbctl`: the `zbctl` binary from the npm package `zbctl@8.4`, installed once into the
  pytest cache (the npm registry is the only network it needs).

Everything binds to 127.0.0.1 on reserved free ports (`support.cluster`), and every process
started here is stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cluster import LocalCluster
from zeebe_installs import install_dir

ZBCTL_PACKAGE = "zbctl@8.4"
NPM_TIMEOUT_S = 240


@pytest.fixture(scope="session")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """cluster.json of a one-node, two-partition cluster; `["nodes"][0]["grpc"]` to connect."""
    directory = tmp_path_factory.mktemp("zeebe-single")
    with LocalCluster(directory, nodes=1, partitions=2, replication=1) as cluster:
        yield cluster.info


@pytest.fixture(scope="session")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """cluster.json of a three-node cluster (3 partitions, replication 3)."""
    directory = tmp_path_factory.mktemp("zeebe-cluster3")
    with LocalCluster(directory, nodes=3, partitions=3, replication=3) as cluster:
        yield cluster.info


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
