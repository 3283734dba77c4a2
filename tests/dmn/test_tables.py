"""Decision tables: the eleven hit policies, defaults, input and output values, the trace."""

from __future__ import annotations

from decimal import Decimal

import pytest

from zennode import dmn

from .helpers import decision, definitions, input_data, table


def run_table(tbl: str, variables: dict) -> dmn.DecisionResult:
    return dmn.evaluate(dmn.parse_dmn(definitions(decision("d", tbl))), "d", variables)


SCORES = [
    ([">= 10"], ['"low"', "1"]),
    ([">= 20"], ['"medium"', "2"]),
    ([">= 30"], ['"high"', "3"]),
]


def test_unique_single_match_gives_the_value_of_the_only_output() -> None:
    tbl = table(["x"], ["r"], [(["< 10"], ['"a"']), (["[10..20]"], ['"b"'])])
    assert run_table(tbl, {"x": 15}).output == "b"
    assert run_table(tbl, {"x": 25}).output is None


def test_unique_with_two_matches_is_an_error_naming_the_rules_and_the_decision() -> None:
    tbl = table(["x"], ["r"], [(["> 1"], ['"a"']), (["> 2"], ['"b"'])])
    with pytest.raises(dmn.DecisionError) as err:
        run_table(tbl, {"x": 5})
    assert err.value.decision_id == "d"
    assert "rules 1, 2" in err.value.message


def test_first_takes_the_first_matching_rule_and_records_only_it() -> None:
    tbl = table(["x"], ["label", "rank"], SCORES, "FIRST")
    result = run_table(tbl, {"x": 25})
    assert result.output == {"label": "low", "rank": 1}
    assert [m.rule_index for m in result.evaluated[0].matched] == [1]


def test_any_needs_equal_outputs() -> None:
    same = table(["x"], ["r"], [(["> 1"], ['"a"']), (["> 2"], ['"a"'])], "ANY")
    assert run_table(same, {"x": 5}).output == "a"
    differ = table(["x"], ["r"], [(["> 1"], ['"a"']), (["> 2"], ['"b"'])], "ANY")
    with pytest.raises(dmn.DecisionError):
        run_table(differ, {"x": 5})


def test_priority_follows_the_output_values_order() -> None:
    tbl = table(
        ["x"],
        ["r"],
        [(["> 1"], ['"low"']), (["> 2"], ['"high"']), (["> 3"], ['"medium"'])],
        "PRIORITY",
        output_values={0: '"high", "medium", "low"'},
    )
    result = run_table(tbl, {"x": 5})
    assert result.output == "high"
    assert [m.rule_index for m in result.evaluated[0].matched] == [2]


def test_output_order_sorts_by_priority_and_rule_order_keeps_rules() -> None:
    rules = [(["> 1"], ['"low"']), (["> 2"], ['"high"']), (["> 3"], ['"medium"'])]
    values = {0: '"high", "medium", "low"'}
    ordered = table(["x"], ["r"], rules, "OUTPUT ORDER", output_values=values)
    assert run_table(ordered, {"x": 5}).output == ["high", "medium", "low"]
    in_rule_order = table(["x"], ["r"], rules, "RULE ORDER", output_values=values)
    assert run_table(in_rule_order, {"x": 5}).output == ["low", "high", "medium"]


def test_priority_with_several_outputs_compares_the_first_ranked_output_first() -> None:
    tbl = table(
        ["x"],
        ["level", "note"],
        [(["> 1"], ['"b"', '"first"']), (["> 2"], ['"a"', '"second"'])],
        "PRIORITY",
        output_values={0: '"a", "b"'},
    )
    assert run_table(tbl, {"x": 5}).output == {"level": "a", "note": "second"}


@pytest.mark.parametrize(
    ("aggregation", "x", "expected"),
    [
        (None, 25, [Decimal(1), Decimal(2)]),
        ("SUM", 25, Decimal(3)),
        ("COUNT", 25, Decimal(2)),
        ("MIN", 35, Decimal(1)),
        ("MAX", 35, Decimal(3)),
        (None, 5, []),
        ("SUM", 5, None),
        ("COUNT", 5, Decimal(0)),
        ("MAX", 5, None),
    ],
)
def test_collect_and_its_aggregations(aggregation: str | None, x: int, expected: object) -> None:
    rules = [([">= 10"], ["1"]), ([">= 20"], ["2"]), ([">= 30"], ["3"])]
    tbl = table(["x"], ["r"], rules, "COLLECT", aggregation)
    assert run_table(tbl, {"x": x}).output == expected


def test_collect_count_counts_distinct_values() -> None:
    rules = [([">= 10"], ['"a"']), ([">= 20"], ['"a"']), ([">= 30"], ['"b"'])]
    tbl = table(["x"], ["r"], rules, "COLLECT", "COUNT")
    assert run_table(tbl, {"x": 35}).output == Decimal(2)


def test_collect_with_several_outputs_gives_contexts() -> None:
    tbl = table(["x"], ["label", "rank"], SCORES, "COLLECT")
    assert run_table(tbl, {"x": 22}).output == [
        {"label": "low", "rank": Decimal(1)},
        {"label": "medium", "rank": Decimal(2)},
    ]


def test_default_output_entries_apply_when_nothing_matches() -> None:
    tbl = table(["x"], ["label", "rank"], SCORES, "FIRST", defaults={0: '"none"', 1: "0"})
    assert run_table(tbl, {"x": 1}).output == {"label": "none", "rank": Decimal(0)}


def test_input_outside_its_input_values_is_an_error() -> None:
    tbl = table(["color"], ["r"], [(['"red"'], ["1"])], input_values={0: '"red", "green"'})
    assert run_table(tbl, {"color": "red"}).output == Decimal(1)
    with pytest.raises(dmn.DecisionError, match="input values"):
        run_table(tbl, {"color": "blue"})


def test_output_outside_its_output_values_is_an_error() -> None:
    tbl = table(["x"], ["r"], [(["-"], ['"maybe"'])], output_values={0: '"yes", "no"'})
    with pytest.raises(dmn.DecisionError, match="output values"):
        run_table(tbl, {"x": 1})


def test_entries_are_unary_tests_of_every_kind() -> None:
    rules = [
        (['"a", "b"', "[1..5["], ['"list and half-open range"']),
        (['not("a", "b")', "> 5"], ['"negation"']),
        (["-", "? > 100 and ? < 200"], ['"input expression"']),
        (['"a"', "limits"], ['"list variable"']),
        (["null", "-"], ['"null"']),
    ]
    tbl = table(["s", "n"], ["r"], rules, "FIRST")
    assert run_table(tbl, {"s": "b", "n": 4, "limits": []}).output == "list and half-open range"
    assert run_table(tbl, {"s": "b", "n": 5, "limits": []}).output is None
    assert run_table(tbl, {"s": "c", "n": 6, "limits": []}).output == "negation"
    assert run_table(tbl, {"s": "a", "n": 150, "limits": []}).output == "input expression"
    assert run_table(tbl, {"s": "a", "n": 7, "limits": [7, 8]}).output == "list variable"
    assert run_table(tbl, {"s": None, "n": 0, "limits": []}).output == "null"


def test_literal_entries_compare_by_feel_equality_not_python_equality() -> None:
    tbl = table(["x"], ["r"], [(["1"], ['"one"']), (['"1"'], ['"text"'])], "FIRST")
    assert run_table(tbl, {"x": True}).output is None  # Python: True == 1
    assert run_table(tbl, {"x": 1.0}).output == "one"
    assert run_table(tbl, {"x": "1"}).output == "text"


def test_trace_reports_inputs_and_matched_rules_as_json() -> None:
    tbl = table(["x", "y"], ["r"], [(["> 1", "-"], ["x * 2"])])
    result = run_table(tbl, {"x": 2, "y": "z"})
    doc = result.to_json()
    assert doc["output"] == 4
    evaluated = doc["evaluatedDecisions"][0]
    assert evaluated["decisionType"] == "DECISION_TABLE"
    assert [i["inputValue"] for i in evaluated["evaluatedInputs"]] == [2, "z"]
    assert evaluated["matchedRules"] == [
        {
            "ruleId": "rule1",
            "ruleIndex": 1,
            "evaluatedOutputs": [{"outputId": "out0", "outputName": "r", "outputValue": 4}],
        }
    ]


def test_an_input_named_like_a_built_in_reads_the_variable_then_the_function() -> None:
    """An input expression `product` reads the variable `product`; with none, FEEL's scope
    ends in the built-in context, so it is the built-in function (DMN 1.5 10.3.2.11): a `null`
    entry does not match it, `-` does, and the trace shows it as its FEEL text."""
    tbl = table(["product"], ["r"], [(["null"], ['"none"']), (["-"], ['"any"'])], "FIRST")
    assert run_table(tbl, {"product": "A"}).output == "any"
    assert run_table(tbl, {"product": None}).output == "none"
    result = run_table(tbl, {})
    assert result.output == "any"
    [evaluated] = result.to_json()["evaluatedDecisions"]
    assert evaluated["evaluatedInputs"][0]["inputValue"] == "function product"


def test_declared_input_data_named_like_a_built_in_is_null_when_not_given() -> None:
    """Input data are entries of the decision's global context, which comes before the
    built-in context: an input `product` without a value is null, never the function."""
    tbl = table(["product"], ["r"], [(["null"], ['"none"']), (["-"], ['"any"'])], "FIRST")
    model = definitions(input_data("product") + decision("d", tbl, inputs=("product",)))
    defs = dmn.parse_dmn(model)
    assert dmn.evaluate(defs, "d", {}).output == "none"
    assert dmn.evaluate(defs, "d", {"product": "A"}).output == "any"
