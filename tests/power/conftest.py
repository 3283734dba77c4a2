"""Fixtures of the power-loss suite: disks that can lose power (tests/power/disk.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from power.disk import PowerDisk


@pytest.fixture
def make_disk(tmp_path: Path) -> Iterator[Callable[[str], PowerDisk]]:
    """`make_disk(name)` mounts a lazyfs under tmp_path/name; all are unmounted at the end.
    A mount that fails raises: the test fails, it is never skipped."""
    disks: list[PowerDisk] = []

    def make(name: str) -> PowerDisk:
        disk = PowerDisk(tmp_path / name)
        disks.append(disk)
        disk.mount()
        return disk

    yield make
    for disk in disks:
        disk.unmount()


@pytest.fixture
def disk(make_disk: Callable[[str], PowerDisk]) -> PowerDisk:
    return make_disk("disk")
