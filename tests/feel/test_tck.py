"""Ratchet: the DMN TCK pass count may only go up (baseline in tck_baseline.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zennode.feel import tck

BASELINE = Path(__file__).with_name("tck_baseline.json")


def test_tck_pass_count_does_not_drop() -> None:
    path = tck.default_cases_path()
    if not path.exists():
        pytest.skip(f"TCK cases not found at {path} (set ZENNODE_SHARED)")
    report = tck.run(tck.load_cases(path))
    summary = report.summary()
    baseline = json.loads(BASELINE.read_text())
    assert summary["total"] == baseline["total"]
    assert summary["passed"] >= baseline["passed"], tck.format_report(report, verbose=True)
    assert report.seconds < 30


def test_runner_survives_bad_cases() -> None:
    cases = [
        {"id": "a", "expression": "1 +", "expected": None, "errorResult": True},
        {"id": "b", "expression": "x", "inputs": {"x": {"@decimal": "1.5"}}, "expected": 1.5},
        {"id": "c", "expression": "1", "expected": 2},
        {"id": "d", "expression": "no such fn()", "expected": 1},
        {"id": "e", "expression": None, "expected": 1},
        {
            "id": "f",
            "expression": '"x"',
            "expected": None,
            "typeRef": "number",
        },
    ]
    report = tck.run(cases)
    assert [o.status for o in report.outcomes] == [
        "passed",
        "passed",
        "failed",
        "error",
        "error",
        "passed",
    ]
    assert report.summary() == {"total": 6, "passed": 3, "failed": 1, "errors": 2}
