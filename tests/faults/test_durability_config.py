"""`raft.fsync_per_batch` reaches the partition (test_partition.py checks its effect)."""

from __future__ import annotations

from pathlib import Path

from zennode.cluster.replicas import partition_settings
from zennode.config import default_config, parse_config


def test_fsync_per_batch_is_off_by_default_and_reachable_from_the_config(tmp_path: Path) -> None:
    assert partition_settings(default_config(), 1).fsync_per_batch is False
    config = parse_config(f"data_dir: {tmp_path}\nraft:\n  fsync_per_batch: true\n")
    assert partition_settings(config, 1).fsync_per_batch is True
