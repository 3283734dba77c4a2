"""The heap watcher (`zennode/heapwatch.py`): off without its env var; when on, its
report names the allocation site and the object type that grew."""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import pytest

from zennode import heapwatch


class _Grown:
    """An object type only this test makes, so its count in the report is ours."""


def test_off_unless_the_env_var_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(heapwatch.DIR_ENV, raising=False)
    before = {t.name for t in threading.enumerate()}
    assert heapwatch.start_from_env() is False
    assert "heapwatch" not in {t.name for t in threading.enumerate()} - before


def test_report_names_the_site_and_the_type_that_grew() -> None:
    tracemalloc.start(3)
    try:
        base, base_types = tracemalloc.take_snapshot(), heapwatch.type_counts()
        kept = [_Grown() for _ in range(2000)]
        text = heapwatch.report(base, base_types, tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert len(kept) == 2000
    ours = [line for line in text.splitlines()[1:-1] if f"{Path(__file__).name}:" in line]
    # the first (largest) line is the comprehension: the instances (and their dicts)
    assert ours and int(ours[0].split(" objs")[0].rsplit("+", 1)[1]) >= 2000
    assert "_Grown +2000" in text.splitlines()[-1]
