"""`raft.fsync` reaches the partition (tests/cluster/test_journal.py checks its effect)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zennode.cluster.replicas import partition_settings
from zennode.config import default_config, parse_config
from zennode.errors import ConfigError


def test_fsync_is_on_by_default_and_can_be_turned_off_in_the_config(tmp_path: Path) -> None:
    assert partition_settings(default_config(), 1).fsync is True
    config = parse_config(f"data_dir: {tmp_path}\nraft:\n  fsync: false\n")
    assert partition_settings(config, 1).fsync is False


def test_the_old_fsync_per_batch_key_names_its_replacement() -> None:
    with pytest.raises(ConfigError, match="raft.fsync_per_batch: replaced by raft.fsync"):
        parse_config("raft:\n  fsync_per_batch: true\n")
