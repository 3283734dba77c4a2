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


MODEL = b"""<?xml version="1.0"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20230324/MODEL/" id="m" name="m"
    namespace="urn:m">
  <inputData id="x" name="x"><variable name="x" typeRef="number"/></inputData>
  <decision id="double" name="double"><variable name="double"/>
    <informationRequirement><requiredInput href="#x"/></informationRequirement>
    <literalExpression><text>x * 2</text></literalExpression></decision>
  <decision id="broken" name="broken"><variable name="broken"/>
    <literalExpression><text>1 +</text></literalExpression></decision>
</definitions>"""

TESTS = b"""<?xml version="1.0"?>
<testCases xmlns="http://www.omg.org/spec/DMN/20160719/testcase"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <modelName>m.dmn</modelName>
  <labels><label>Literal Expression</label></labels>
  <testCase id="1">
    <inputNode name="x"><value xsi:type="xsd:decimal">2</value></inputNode>
    <resultNode name="double"><expected><value xsi:type="xsd:decimal">4</value></expected>
    </resultNode>
    <resultNode name="double"><expected><value xsi:type="xsd:decimal">5</value></expected>
    </resultNode>
    <resultNode name="broken" errorResult="true"><expected><value xsi:nil="true"/></expected>
    </resultNode>
    <resultNode name="broken"><expected><value xsi:type="xsd:decimal">1</value></expected>
    </resultNode>
    <resultNode name="missing"><expected><value xsi:type="xsd:decimal">1</value></expected>
    </resultNode>
  </testCase>
  <testCase id="2">
    <inputNode name="x"><list><item><value xsi:type="xsd:decimal">3</value></item></list>
    </inputNode>
    <resultNode name="double"><expected><value xsi:type="xsd:decimal">6</value></expected>
    </resultNode>
  </testCase>
</testCases>"""


def test_runner_counts_each_result_node_and_survives_bad_ones(tmp_path: Path) -> None:
    folder = tmp_path / "level" / "m"
    folder.mkdir(parents=True)
    (folder / "m.dmn").write_bytes(MODEL)
    (folder / "m-test-01.xml").write_bytes(TESTS)
    (tmp_path / "level" / "broken").mkdir()
    (tmp_path / "level" / "broken" / "b.dmn").write_bytes(b"<notdmn/>")
    (tmp_path / "level" / "broken" / "b-test-01.xml").write_bytes(TESTS.replace(b"m.dmn", b"b.dmn"))
    report = dmn_tck.run(tmp_path)
    statuses = [(c.folder, c.test_id, c.status) for c in report.cases]
    assert statuses[6:] == [
        ("level/m", "1", "passed"),
        ("level/m", "1", "failed"),
        ("level/m", "1", "passed"),
        ("level/m", "1", "error"),
        ("level/m", "1", "error"),
        ("level/m", "2", "passed"),
    ]
    assert all(c.status == "error" for c in report.cases if c.folder == "level/broken")
    assert report.summary() == {"total": 12, "passed": 3, "failed": 1, "errors": 8}
    assert report.cases[0].detail.startswith("model not read: not a DMN document")
    text = dmn_tck.format_report(report, verbose=True)
    assert text.splitlines()[-1] == json.dumps(report.summary())
    assert "| level/m | 6 | 3 | 1 | 2 |" in text
