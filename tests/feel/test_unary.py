"""DMN unary tests (decision table input entries) and ranges closed with outward brackets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from zennode import feel
from zennode.feel.scope import Scope, State
from zennode.feel.unary import compile_unary_tests


def check(text: str, value: object, variables: dict | None = None) -> bool | None:
    scope = Scope(variables or {}, None, State(), raw=True)
    return compile_unary_tests(text).matches(feel.from_json(value), scope)


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("-", None, True),
        ("", 5, True),
        ("< 10", 5, True),
        ("< 10", "x", None),
        ('"a", "b"', "b", True),
        ('"a", "b"', "c", False),
        ('not("a", "b")', "c", True),
        ('not("a", "b")', "a", False),
        ("[1..10[", 10, False),
        ("]1..10]", 1, False),
        ("[1..10)", 9.5, True),
        ("? > 5 and ? < 10", 7, True),
        ("null", None, True),
        ("true", False, False),
        ("> 10, < 0", -1, True),
        ('>= @"2024-01-01"', "2024-01-01", None),
        ('[date("2024-01-01")..date("2024-12-31")]', "x", None),
    ],
)
def test_unary_tests(text: str, value: object, expected: bool | None) -> None:
    assert check(text, value) is expected


def test_an_entry_may_name_a_list_or_range_variable() -> None:
    assert check("allowed", 2, {"allowed": [1, 2]}) is True
    assert check("allowed", 3, {"allowed": [1, 2]}) is False
    assert check("limit", 3, {"limit": 5}) is False
    assert check("not(a) or b", True, {"a": False, "b": False}) is True  # an expression


def test_literal_entries_report_their_values_for_indexing() -> None:
    assert compile_unary_tests('"a", "b"').equals == ("a", "b")
    assert compile_unary_tests("= 5").equals == (Decimal(5),)
    assert compile_unary_tests("true").equals is None  # true also matches non-booleans
    assert compile_unary_tests("< 5").equals is None
    assert compile_unary_tests('not("a")').equals is None
    assert [p.source for p in compile_unary_tests('"x", "y"').parts()] == ['"x", "y"'] * 2


def test_a_bad_entry_is_a_syntax_error_with_a_caret() -> None:
    with pytest.raises(feel.FeelError) as err:
        compile_unary_tests("[1..")
    assert "^" in str(err.value)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("5 in [1..10[", True),
        ("10 in [1..10[", False),
        ("1 in ]1..10]", False),
        ("[1..10[ = [1..10)", True),
        ("[1, 2, 3][item > 1]", [Decimal(2), Decimal(3)]),
        ("x in [1..x[1]]", None),
    ],
)
def test_ranges_with_outward_brackets(expression: str, expected: object) -> None:
    assert feel.evaluate(expression, {"x": [3]}) == expected
