"""Numeric built-ins: rounding with a scale, modulo, roots, logs, parity, number parsing."""

from __future__ import annotations

import decimal
import re
from decimal import Decimal, DecimalException
from typing import Any

from ..functions import builtin
from ..numbers import CTX, number
from ..values import MISSING
from ._util import as_int, is_int, is_num, is_str, unwrapping


def _round(n: Any, scale: Any, mode: str) -> Any:
    if not is_num(n):
        return None
    digits = 0 if scale is MISSING else as_int(scale)
    if digits is None or not -6111 <= digits <= 6176:
        return None
    if n.as_tuple().exponent >= -digits:  # already at (or coarser than) the scale
        return n
    try:
        return n.quantize(Decimal(1).scaleb(-digits), rounding=mode, context=CTX)
    except DecimalException:
        return None


@builtin("decimal", ("n", "scale"))
def decimal_(n: Any, scale: Any) -> Any:
    return _round(n, scale, decimal.ROUND_HALF_EVEN)


@builtin("floor", ("n", "scale?"))
def floor(n: Any, scale: Any) -> Any:
    return _round(n, scale, decimal.ROUND_FLOOR)


@builtin("ceiling", ("n", "scale?"))
def ceiling(n: Any, scale: Any) -> Any:
    return _round(n, scale, decimal.ROUND_CEILING)


@builtin("round up", ("n", "scale?"))
def round_up(n: Any, scale: Any) -> Any:
    return _round(n, scale, decimal.ROUND_UP)


@builtin("round down", ("n", "scale?"))
def round_down(n: Any, scale: Any) -> Any:
    return _round(n, scale, decimal.ROUND_DOWN)


@builtin("round half up", ("n", "scale?"))
def round_half_up(n: Any, scale: Any) -> Any:
    return _round(n, scale, decimal.ROUND_HALF_UP)


@builtin("round half down", ("n", "scale?"))
def round_half_down(n: Any, scale: Any) -> Any:
    return _round(n, scale, decimal.ROUND_HALF_DOWN)


@builtin("abs", ("n",))
def abs_(n: Any) -> Any:
    from ..temporal import DayTime, YearsMonths

    if is_num(n):
        return abs(n)
    if isinstance(n, YearsMonths):
        return YearsMonths(abs(n.months))
    if isinstance(n, DayTime):
        return DayTime(abs(n.seconds))
    return None


@builtin("modulo", ("dividend", "divisor"))
def modulo(dividend: Any, divisor: Any) -> Any:
    if not is_num(dividend) or not is_num(divisor) or not divisor:
        return None
    try:
        q = CTX.divide(dividend, divisor).to_integral_value(rounding=decimal.ROUND_FLOOR)
        return CTX.subtract(dividend, CTX.multiply(divisor, q))
    except DecimalException:
        return None


@builtin("sqrt", ("number",))
def sqrt(n: Any) -> Any:
    if not is_num(n) or n < 0:
        return None
    return CTX.sqrt(n)


@builtin("log", ("number",))
def log(n: Any) -> Any:
    if not is_num(n) or n <= 0:
        return None
    return CTX.ln(n)


@builtin("exp", ("number",))
def exp(n: Any) -> Any:
    if not is_num(n):
        return None
    try:
        return CTX.exp(n)
    except DecimalException:
        return None


@builtin("odd", ("number",))
def odd(n: Any) -> Any:
    return bool(int(n) % 2) if is_int(n) else None


@builtin("even", ("number",))
def even(n: Any) -> Any:
    return not int(n) % 2 if is_int(n) else None


_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@builtin("number", ("from", "grouping separator?", "decimal separator?"))
def number_(text: Any, grouping: Any, decimal_sep: Any) -> Any:
    if not is_str(text):
        return None
    grouping = None if grouping is MISSING else grouping
    decimal_sep = None if decimal_sep is MISSING else decimal_sep
    if grouping not in (None, " ", ",", "."):
        return None
    if decimal_sep not in (None, ".", ","):
        return None
    if grouping is not None and grouping == decimal_sep:
        return None
    if grouping:
        text = text.replace(grouping, "")
    if decimal_sep:
        text = text.replace(decimal_sep, ".")
    if not _NUMBER_RE.fullmatch(text):
        return None
    try:
        return number(text)
    except DecimalException:
        return None


FUNCTIONS = [
    unwrapping(decimal_),
    unwrapping(floor),
    unwrapping(ceiling),
    unwrapping(round_up),
    unwrapping(round_down),
    unwrapping(round_half_up),
    unwrapping(round_half_down),
    unwrapping(abs_),
    unwrapping(modulo),
    unwrapping(sqrt),
    unwrapping(log),
    unwrapping(exp),
    unwrapping(odd),
    unwrapping(even),
    unwrapping(number_),
]
