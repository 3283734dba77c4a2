"""External functions mapped to Java: the fixed java.lang set, Java's conversions, errors."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from zennode import feel
from zennode.feel import java


def call(cls: str, signature: str, *args: str) -> object:
    params = ", ".join(f"p{i}" for i in range(len(args)))
    fn = (
        f'function({params}) external {{java: {{class: "{cls}", method signature: "{signature}"}}}}'
    )
    return feel.evaluate(f"{{f: {fn}, r: f({', '.join(args)})}}.r")


@pytest.mark.parametrize(
    ("cls", "signature", "args", "expected"),
    [
        ("java.lang.Math", "max(double, double)", ("123.45", "456.78"), Decimal("456.78")),
        ("java.lang.Math", "max(int,int)", ("123", "456"), Decimal(456)),
        ("java.lang.Math", "max(float, float)", ("123.46", "456.78"), Decimal("456.78")),
        ("java.lang.Math", "cos(double)", ("123",), Decimal(repr(math.cos(123)))),
        ("java.lang.Math", "sqrt(double)", ("2",), Decimal(repr(math.sqrt(2)))),
        ("java.lang.Math", "pow(double, double)", ("2", "10"), Decimal(1024)),
        ("java.lang.Math", "round(double)", ("-2.5",), Decimal(-2)),
        ("java.lang.Integer", "valueOf(java.lang.String)", ('"123"',), Decimal(123)),
        ("java.lang.Float", "valueOf(java.lang.String)", ('"1234.56"',), Decimal("1234.56")),
        ("java.lang.Short", "valueOf(short)", ("123",), Decimal(123)),
        ("java.lang.String", "valueOf(char)", ('"a"',), "a"),
        ("java.lang.Double", "toString(double)", ("1e10",), "1.0E10"),
        (
            "java.lang.String",
            "format(java.lang.String, [Ljava.lang.Object;)",
            ('"%s: %d, %.2f, %,d"', '"x"', "5", "3.14159", "1234567"),
            "x: 5, 3.14, 1,234,567",
        ),
        ("java.lang.Math", "sqrt(double)", ("-1",), None),  # NaN is not a FEEL number
    ],
)
def test_java_methods(cls: str, signature: str, args: tuple[str, ...], expected: object) -> None:
    assert call(cls, signature, *args) == expected


@pytest.mark.parametrize(
    ("cls", "signature", "args"),
    [
        ("java.lang.Math", "foo(double)", ("1",)),
        ("java.lang.Foo", "valueOf(double)", ("1",)),
        ("java.lang.Math", "max(java.lang.String, java.lang.String)", ('"1"', '"2"')),
        ("java.lang.Integer", "valueOf(java.lang.String)", ('"12x"',)),
        ("java.lang.Byte", "valueOf(byte)", ("300",)),
        ("java.lang.Runtime", "getRuntime()", ()),
    ],
)
def test_what_is_not_in_the_set_or_does_not_convert_is_an_error(
    cls: str, signature: str, args: tuple[str, ...]
) -> None:
    with pytest.raises(feel.FeelError):
        call(cls, signature, *args)


def test_other_mappings_are_refused() -> None:
    method, why = java.resolve({"pmml": {"document": "d", "model": "m"}})
    assert method is None and "pmml" in why


def test_transcendental_results_do_not_depend_on_the_c_library() -> None:
    method, _ = java.resolve(
        {"java": {"class": "java.lang.Math", "method signature": "sin(double)"}}
    )
    assert method is not None
    # 1e22 needs 22 extra digits of pi to reduce; the correctly rounded answer
    assert method(Decimal("1e22")) == Decimal("-0.8522008497671888")
