"""Conversions the DMN TCK relies on: singleton lists into built-ins, nanoseconds, XPath
regular expressions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from zennode import feel


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("abs([-1])", Decimal(1)),
        ("floor([1.5])", Decimal(1)),
        ('date(["2020-01-01"])', dt.date(2020, 1, 1)),
        ("not([true])", False),
        ('number(["12"])', Decimal(12)),
        ('upper case(["a"])', "A"),
        ("string([1])", "[1]"),  # string(from: Any) keeps the list
        ("abs([1, 2])", None),
    ],
)
def test_a_singleton_list_is_its_item_where_a_single_value_is_expected(
    expression: str, expected: object
) -> None:
    assert feel.evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('string(@"2020-01-01T10:00:00.123456789Z")', "2020-01-01T10:00:00.123456789Z"),
        ('string(time("23:59:01.123456789@Europe/Paris"))', "23:59:01.123456789@Europe/Paris"),
        (
            'string(date and time(date("2017-01-01"), time("23:59:01.987654321")))',
            "2017-01-01T23:59:01.987654321",
        ),
        ('@"2020-01-01T10:00:00.000000002" > @"2020-01-01T10:00:00.000000001"', True),
        ('@"2020-01-01T10:00:00.000000002" = @"2020-01-01T10:00:00.000000001"', False),
        ('string(@"2020-01-01T10:00:00.123456789Z" - @"2020-01-01T10:00:00Z")', "PT0.123456789S"),
        ('string(@"2020-01-01T10:00:00.000000001Z" + @"PT1S")', "2020-01-01T10:00:01.000000001Z"),
        ('@"10:00:00.000000001".second', Decimal("1E-9")),
        ("string(time(23, 59, 59.9999999999))", "23:59:59.999999999"),
    ],
)
def test_times_keep_nanoseconds(expression: str, expected: object) -> None:
    assert feel.evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (r'matches("Mary\u000DJones", "Mary.Jones")', False),  # . matches no \r or \n
        (r'matches("Mary\u000DJones", "Mary.Jones", "s")', True),
        (r'matches("hello world", "hello\ sworld", "x")', True),  # x drops escaped spaces
        (r'matches("a.b", "a\.b")', True),
    ],
)
def test_xpath_regular_expressions(expression: str, expected: bool) -> None:
    assert feel.evaluate(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # the same zone on both sides: instants, not wall clocks (an hour less in spring)
        ('@"2021-03-28T03:00:00@Europe/Paris" - @"2021-03-28T01:00:00@Europe/Paris"', "PT1H"),
        ('@"2021-10-31T03:00:00@Europe/Paris" - @"2021-10-30T03:00:00@Europe/Paris"', "P1DT1H"),
        ('@"2021-03-28T03:00:00@Europe/Paris" - @"2021-03-28T01:00:00+01:00"', "PT1H"),
        ('@"2021-06-01T10:00:00Z" - @"2021-06-01T10:00:00@Europe/Paris"', "PT2H"),
    ],
)
def test_durations_between_zoned_date_times(expression: str, expected: str) -> None:
    assert feel.to_json(feel.evaluate(expression)) == expected


def test_ordering_of_zoned_date_times_across_a_clock_change() -> None:
    # 01:30 in winter time (00:30Z) is before 03:00 in summer time (01:00Z)
    assert feel.evaluate(
        '@"2021-03-28T03:00:00@Europe/Paris" > @"2021-03-28T01:30:00@Europe/Paris"'
    )
    assert feel.evaluate('@"2021-03-28T03:00:00@Europe/Paris" = @"2021-03-28T01:00:00Z"')
