"""Suite-wide test policy.

Tests that start real servers (Raft ports, node processes, gRPC and HTTP on 127.0.0.1) can lose
a race for a free port or a scheduling slot on a shared 2-core machine. Those tests are re-run
once on failure, and the rerun is reported in pytest's summary (`R` / "N rerun"), so a flake is
visible and never hidden. Pure tests (engine, FEEL, storage codecs, corpus) are never re-run:
they are deterministic and any failure there is a real one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Folders whose tests start servers or processes.
_SERVER_TEST_DIRS = {
    "bpmn",
    "cluster",
    "faults",
    "fuzz",
    "grpc",
    "integration",
    "partitions",
    "security",
    "zeebe",
}
_TESTS_ROOT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(_TESTS_ROOT).parts
        starts_servers = parts[0] in _SERVER_TEST_DIRS or parts[0] in {
            "test_cli.py",
            "test_metrics.py",
            "test_metrics_cluster.py",
            "test_bench.py",
        }
        if starts_servers:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))
