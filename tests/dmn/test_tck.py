"""Ratchet: every DMN TCK case that passed when the baseline was written must still pass.

The baseline (tck_baseline.json) lists the passing case ids; refresh it with
`python -m tests.dmn.test_tck --write` after an improvement. A case that stops passing fails
this test with its expected and actual values.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from zennode.tools import dmn_tck

BASELINE = Path(__file__).with_name("tck_baseline.json")


def _report() -> dmn_tck.Report:
    root = dmn_tck.default_dir()
    assert root.is_dir(), f"DMN TCK folders not found at {root} (set ZENNODE_SHARED)"
    return dmn_tck.run(root)


def test_no_previously_passing_case_fails() -> None:
    report = _report()
    baseline = json.loads(BASELINE.read_text())
    passed = set(report.passed_ids())
    was = set(baseline["passing"])
    lost = [c for c in report.cases if c.id in was and c.id not in passed]
    detail = "\n".join(
        f"{c.id}: {c.status} expected={dmn_tck.show(c.expected)} got={dmn_tck.show(c.actual)} "
        f"{c.detail}"
        for c in lost
    )
    assert not lost, f"{len(lost)} TCK case(s) no longer pass:\n{detail}"
    assert report.summary()["total"] == baseline["summary"]["total"]


if __name__ == "__main__" and "--write" in sys.argv:
    r = _report()
    data = {"summary": r.summary(), "passing": r.passed_ids()}
    BASELINE.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n")
    print(r.summary())
