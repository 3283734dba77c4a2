"""Camunda 8 FEEL extensions that BPMN models use (`is defined`, `get or else`, ...)."""

from __future__ import annotations

from zennode import feel


def ev(expr: str, variables: dict | None = None) -> object:
    return feel.to_json(feel.evaluate(expr, variables))


def test_is_defined_looks_at_the_name_not_the_value() -> None:
    assert ev("is defined(x)", {}) is False
    assert ev("is defined(x)", {"x": None}) is True
    assert ev("is defined(order.id)", {"order": {"id": None}}) is True
    assert ev("is defined(order.id)", {"order": {}}) is False
    assert ev("is defined(order.id)", {}) is False
    assert ev("if is defined(x) then x else 0", {}) == 0


def test_a_user_function_named_is_defined_wins() -> None:
    assert ev("{is defined: function(v) 42, r: is defined(x)}.r", {}) == 42


def test_extensions() -> None:
    assert ev("get or else(x, 5)", {}) == 5
    assert ev("get or else(x, 5)", {"x": 1}) == 1
    assert ev('trim("  a ")') == "a"
    assert ev('is blank(" ")') is True
    assert ev("is empty([])") is True
    assert ev("partition([1, 2, 3], 2)") == [[1, 2], [3]]
    assert ev('last day of month(@"2024-02-10")') == "2024-02-29"
    assert ev('extract("a1b22", "\\d+")') == ["1", "22"]
    assert ev("duplicate values([1, 2, 1, 1, 3, 3])") == [1, 3]
