"""`cluster`: one real 3-node cluster (3 partitions, R=3) per test module, started with the
same launcher as `scripts/cluster up`, always stopped with `down` (also when a test fails)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.cluster import LocalCluster

NODES = 3
PARTITIONS = 3
# Snapshots every ~64 KiB of replicated batches, so restarts and failovers also exercise
# snapshot transfer and install, not only log replay.
SMALL_COMPACTION = {"raft": {"compaction_bytes": 64 * 1024}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    directory = tmp_path_factory.mktemp("cluster")
    with LocalCluster(directory, NODES, PARTITIONS, 3, extra=SMALL_COMPACTION) as started:
        yield started
