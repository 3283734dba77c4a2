"""`cluster`: one real 3-node cluster (3 partitions, R=3) per test module, started with the
same launcher as `scripts/cluster up`, always stopped with `down` (also when a test fails)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, free_base_port

from zennode.cluster import launcher

NODES = 3
PARTITIONS = 3
# Snapshots every ~64 KiB of replicated batches, so restarts and failovers also exercise
# snapshot transfer and install, not only log replay.
SMALL_COMPACTION = {"raft": {"compaction_bytes": 64 * 1024}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory: Path = tmp_path_factory.mktemp("cluster")
    started = None
    try:
        info = launcher.up(
            directory,
            nodes=NODES,
            partitions=PARTITIONS,
            replication=3,
            base_port=free_base_port(NODES, PARTITIONS),
            timeout_s=60,
            extra=SMALL_COMPACTION,
        )
        started = Cluster(directory, info)
        yield started
    finally:
        if started is not None:
            started.close()
        launcher.down(directory)
