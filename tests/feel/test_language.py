"""FEEL language features beyond the engine subset (issue 8), one behaviour per test."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from zennode import feel
from zennode.feel.temporal import DayTime, YearsMonths
from zennode.feel.values import Function


def ev(expr: str, **variables: object) -> object:
    return feel.evaluate(expr, variables)


def test_decimal_precision_is_34_digits() -> None:
    assert ev("2 / 3") == Decimal("0.6666666666666666666666666666666667")
    assert ev("decimal(1/3, 2)") == Decimal("0.33")
    assert ev("round half up(2.5, 0)") == 3
    assert ev("round half down(2.5, 0)") == 2
    assert ev("modulo(-10.1, 4.5)") == Decimal("3.4")


def test_three_valued_logic() -> None:
    assert ev("null or false") is None
    assert ev("all([true, null])") is None
    assert ev("any([false, null, true])") is True
    assert ev('"a" and true') is None


def test_ranges_and_unary_tests() -> None:
    assert ev("5 in [1..10]") is True
    assert ev("10 in [1..10)") is False
    assert ev("x in (<= 0, >= 100)", x=150) is True
    assert ev("x in [1, 2, [3..4]]", x=3.5) is True
    assert ev("5 in [null..10]") is None
    assert ev('range("[1..3)") = [1..3)') is True
    assert ev("[1..3].start") == 1
    assert ev("before(1, [2..3])") is True
    assert ev("overlaps([1..5], [3..8])") is True
    assert ev("includes([1..10], [2..3])") is True


def test_instance_of() -> None:
    assert ev("1 instance of number") is True
    assert ev('"a" instance of number') is False
    assert ev("[1, 2] instance of list<number>") is True
    assert ev('@"P1D" instance of days and time duration') is True
    assert ev("{a: 1} instance of context<a: number>") is True
    assert ev("(function(x: number) x) instance of function<number>->Any") is True


def test_for_some_every() -> None:
    assert ev("for i in 1..3, j in [10, 20] return i + j") == [11, 21, 12, 22, 13, 23]
    assert ev("for i in 3..1 return i") == [3, 2, 1]
    assert ev("for i in 1..4 return if i = 1 then 1 else i * partial[-1]") == [1, 2, 6, 24]
    assert ev("some x in [1, 5, 9] satisfies x > 8") is True
    assert ev("every x in [1, 5, 9] satisfies x > 0") is True
    assert ev("every x in [1, 5], y in [2] satisfies x < y") is False


def test_functions_named_and_positional() -> None:
    assert ev("{f: function(a, b) a - b, r: f(b: 1, a: 5)}.r") == 4
    assert ev("(function(x) x * 2)(21)") == 42
    assert ev('substring(string: "foobar", start position: 2, length: 3)') == "oob"
    assert ev("{fact: function(n) if n <= 1 then 1 else n * fact(n - 1), r: fact(20)}.r") == (
        2432902008176640000
    )
    assert ev("sort([3, 1, 2], function(x, y) x > y)") == [3, 2, 1]


def test_temporal_values() -> None:
    assert ev('@"2024-02-29" + @"P1Y"') == dt.date(2025, 2, 28)
    assert ev('date and time("2024-01-01T10:00:00@Europe/Paris").time offset') == DayTime(
        Decimal(3600)
    )
    assert ev('@"2024-01-01T10:00:00+01:00" = @"2024-01-01T09:00:00Z"') is True
    assert ev('time("23:00:00") + duration("PT2H")') == ev('time("01:00:00")')
    assert ev('years and months duration(date("2020-01-15"), date("2021-03-14"))') == (
        YearsMonths(13)
    )
    assert ev('duration("P1DT2H") / duration("PT1H")') == 26
    assert ev('day of week(date("2024-01-01"))') == "Monday"
    assert ev('week of year(date("2024-12-30"))') == 1
    assert feel.to_json(ev('@"P1Y2M" * 2')) == "P2Y4M"
    assert ev('date("2024-13-01")') is None


def test_now_needs_an_instant() -> None:
    c = feel.compile("now()")
    assert c.evaluate() is None
    instant = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    assert c.evaluate(now=instant) == instant
    assert feel.compile("today()").evaluate(now=instant) == dt.date(2024, 5, 1)


def test_strings_and_regex() -> None:
    assert ev('matches("abc", "^A", "i")') is True
    assert ev('replace("abc", "(b)", "[$1]")') == "a[b]c"
    assert ev('split("a1b22c", "\\d+")') == ["a", "b", "c"]
    assert ev('string join(["a", null, "c"], "-")') == "a-c"
    assert ev('matches("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "(a+)+$")') is None


def test_contexts() -> None:
    assert ev('get value({a: 1}, "a")') == 1
    assert ev("get entries({a: 1})") == [{"key": "a", "value": 1}]
    assert ev('context put({a: 1}, ["b", "c"], 2)') == {"a": 1, "b": {"c": 2}}
    assert ev("context merge([{a: 1}, {a: 2, b: 3}])") == {"a": 2, "b": 3}
    assert ev('{"a b": 1, c+d: 2}') == {"a b": 1, "c+d": 2}


def test_filters() -> None:
    assert ev("[1, 2, 3, 4][item > 2]") == [3, 4]
    assert ev("[{a: 1}, {a: 2}][a = 2].a") == [2]
    assert ev("[1, 2, 3][-1]") == 3
    assert ev("[1, 2, 3][true]") == [1, 2, 3]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("(" * 500 + "1" + ")" * 500, "nested"),
        ("for i in 1..100000000 return i", "range of more than"),
        ("{f: function(n) f(n + 1), r: f(1)}.r", "nested deeper"),
        ("count(for i in 1..1000, j in 1..1000, k in 1..10 return 1)", "iterations"),
        ('{f: function(s, n) if n = 0 then s else f(s + s, n - 1), r: f("x", 40)}.r', "longer"),
    ],
)
def test_sandbox_limits(expr: str, message: str) -> None:
    with pytest.raises(feel.FeelError) as info:
        feel.evaluate(expr)
    assert message in info.value.message


def test_compiled_expression_is_reusable_and_does_not_mutate_inputs() -> None:
    c = feel.compile("items[price > 1].price")
    variables = {"items": [{"price": 1}, {"price": 2.5}]}
    assert c.evaluate(variables) == [Decimal("2.5")]
    assert c.evaluate({"items": []}) == []
    assert variables == {"items": [{"price": 1}, {"price": 2.5}]}


def test_years_outside_python_range() -> None:
    assert feel.to_json(ev('@"-2021-01-01T10:10:10+11:00" + @"P1M"')) == (
        "-2021-02-01T10:10:10+11:00"
    )
    assert feel.to_json(ev('@"9999-12-31" + @"P1D"')) == "10000-01-01"
    assert ev('@"-2021-01-01" < @"2021-01-01"') is True
    assert ev('@"-2021-01-01".year') == -2021
    assert feel.to_json(ev('@"-0001-03-01" - @"-0001-02-28"')) == "P1D"
    assert ev('day of week(@"-2021-01-01")') == ev('day of week(@"2379-01-01")')


def test_a_name_no_variable_has_is_the_built_in_function_of_that_name() -> None:
    """DMN 1.5 clause 10.3.2.11: names resolve through the scope's contexts, the last of which
    is the built-in context holding every built-in function. So `product` with no variable
    `product` is the function value (not null, which Camunda's FEEL answers because its
    functions are no values at all). A variable shadows it."""
    fn = ev("product")
    assert isinstance(fn, Function) and fn.name == "product"
    assert ev("product instance of function") is True
    assert ev("product = null") is False
    assert ev("{f: abs, r: f(-2)}.r") == 2
    assert ev('(string length)("abc")') == 3
    assert ev("produkt") is None  # a name that is neither: null
    assert ev("product", product="A") == "A"
    assert ev("product = null", product=None) is True
    # a call reaches the built-in even when a variable of that name is not a function (so
    # `count(items)` works in a process with a variable `count`)
    assert ev("count([1, 2]) + count", count=5) == 7
    # where a value must become JSON (engine variables, results) the error says what happened
    with pytest.raises(feel.FeelError, match=r"built-in function count\(\).*no variable 'count'"):
        feel.to_json(ev("count"))
