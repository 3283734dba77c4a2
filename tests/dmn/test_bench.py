"""`scripts/bench dmn` runs its model end to end (speed itself is measured, never asserted)."""

from __future__ import annotations

from zennode import dmn
from zennode.tools import bench_dmn


def test_the_bench_table_has_twenty_rules_and_each_input_set_hits_one() -> None:
    defs = dmn.parse_dmn(bench_dmn.table_model())
    table = defs.decisions[0].expression
    assert len(table.rules) == 20 and len(table.inputs) == 3  # type: ignore[attr-defined]
    hit = {
        dmn.evaluate(defs, "discount", v).evaluated[0].matched[0].rule_index
        for v in bench_dmn.INPUTS
    }
    assert len(hit) == len(bench_dmn.INPUTS)


def test_the_bench_reports_rates() -> None:
    results = bench_dmn.run(rounds=1, batch=20)
    assert results["benchmark"] == "dmn" and results["rules"] == 20
    assert results["evaluations_per_second"] > 0
    assert results["evaluations_with_json_per_second"] > 0
    assert results["parse_ms"] > 0
