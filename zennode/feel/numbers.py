"""FEEL numbers: `decimal.Decimal` with 34 significant digits (IEEE 754 decimal128), as DMN says.

All arithmetic goes through the explicit context `CTX`, never the thread's current context, so
results do not depend on who called us or from which thread.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

CTX = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=6144,
    Emin=-6143,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

ZERO = Decimal(0)
ONE = Decimal(1)


def number(value: int | str | Decimal) -> Decimal:
    """Make a FEEL number, rounded to 34 significant digits."""
    return CTX.create_decimal(value)


def from_float(value: float) -> Decimal | None:
    """A binary float as the decimal it prints as (0.1 -> 0.1, not 0.1000000000000000055...)."""
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return CTX.create_decimal(repr(value))


def is_integer(value: Decimal) -> bool:
    return value.is_finite() and value == value.to_integral_value()


def normalize(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent form for integers (1E+1 -> 10)."""
    if is_integer(value):
        return value.quantize(ONE) if value.adjusted() < 34 else value
    return value.normalize(CTX)


def to_text(value: Decimal) -> str:
    """FEEL `string(n)`: plain notation, no exponent, no trailing zeros."""
    value = normalize(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
