"""FEEL operators on values: arithmetic with decimal and temporal semantics, null on misuse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, DecimalException
from typing import Any

from .errors import FeelError
from .limits import POWER_EXPONENT_MAX, STRING_CHARS_MAX
from .numbers import CTX, is_integer
from .temporal import (
    DayTime,
    FeelTime,
    YearsMonths,
    add_months,
    as_datetime,
    difference,
    join,
    nanos_of,
    split,
    timedelta_seconds,
    with_nanos,
)

_DAY = 86400


def _is_num(v: Any) -> bool:
    return type(v) is Decimal


def _shift(value: Any, duration: YearsMonths | DayTime, sign: int) -> Any:
    """temporal +/- duration."""
    try:
        if isinstance(duration, YearsMonths):
            if isinstance(value, (dt.date, dt.datetime)):
                return add_months(value, sign * duration.months)
            return None
        delta = duration.to_timedelta() * sign
        if isinstance(value, dt.date):
            base, k = split(value)
            if isinstance(base, dt.datetime):
                if base.tzinfo is not None and hasattr(base.tzinfo, "key"):
                    # a zone id: move the instant (absolute duration), then show it in the zone
                    moved = (base.astimezone(dt.UTC) + delta).astimezone(base.tzinfo)
                    return with_nanos(join(moved, k), nanos_of(value))  # type: ignore[arg-type]
                return with_nanos(join(base + delta, k), nanos_of(value))  # type: ignore[arg-type]
            moved = dt.datetime(base.year, base.month, base.day) + delta
            return join(moved.date(), k)
        if isinstance(value, FeelTime):
            total = (
                (value.seconds_of_day() + Decimal(sign) * duration.seconds) % _DAY + _DAY
            ) % _DAY
            return FeelTime.from_seconds(total, value.tz)
    except (OverflowError, ValueError):
        return None
    return None


def add(a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is Decimal and type(b) is Decimal:
        return _arith(CTX.add, a, b)
    if ta is str and type(b) is str:
        if len(a) + len(b) > STRING_CHARS_MAX:
            raise FeelError(f"string longer than {STRING_CHARS_MAX} characters")
        return a + b
    if ta is YearsMonths and type(b) is YearsMonths:
        return YearsMonths(a.months + b.months)
    if ta is DayTime and type(b) is DayTime:
        return DayTime(a.seconds + b.seconds)
    if isinstance(b, (YearsMonths, DayTime)) and isinstance(a, (dt.date, FeelTime)):
        return _shift(a, b, 1)
    if isinstance(a, (YearsMonths, DayTime)) and isinstance(b, (dt.date, FeelTime)):
        return _shift(b, a, 1)
    return None


def sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return _arith(CTX.subtract, a, b)
    if ta is YearsMonths and tb is YearsMonths:
        return YearsMonths(a.months - b.months)
    if ta is DayTime and tb is DayTime:
        return DayTime(a.seconds - b.seconds)
    if isinstance(b, (YearsMonths, DayTime)) and isinstance(a, (dt.date, FeelTime)):
        return _shift(a, b, -1)
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        x, y = as_datetime(a), as_datetime(b)
        mixed = isinstance(a, dt.datetime) != isinstance(b, dt.datetime)
        if mixed and x.tzinfo is None and y.tzinfo is None:
            return None
        if (x.tzinfo is None) != (y.tzinfo is None):
            if not mixed:
                return None
            # a date against a zoned date-time: the date is midnight in UTC
            x, y = as_datetime(x, dt.UTC), as_datetime(y, dt.UTC)
        nanos = Decimal(nanos_of(a) - nanos_of(b)).scaleb(-9)
        return DayTime(timedelta_seconds(difference(x, y)) + nanos)
    if ta is FeelTime and tb is FeelTime:
        ka, kb = a.utc_key(), b.utc_key()
        if (ka is None) != (kb is None):
            return None
        if ka is None:
            ka, kb = a.seconds_of_day(), b.seconds_of_day()
        return DayTime(ka - kb)
    return None


def mul(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return _arith(CTX.multiply, a, b)
    if tb is Decimal and ta in (YearsMonths, DayTime):
        a, b = b, a
        ta, tb = tb, ta
    if ta is Decimal:
        if tb is YearsMonths:
            return YearsMonths(int(CTX.multiply(a, Decimal(b.months))))
        if tb is DayTime:
            return DayTime(CTX.multiply(a, b.seconds))
    return None


def div(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        if not b:
            return None
        return _arith(CTX.divide, a, b)
    if tb is Decimal:
        if not b:
            return None
        if ta is YearsMonths:
            return YearsMonths(int(CTX.divide(Decimal(a.months), b)))
        if ta is DayTime:
            return DayTime(CTX.divide(a.seconds, b))
        return None
    if ta is YearsMonths and tb is YearsMonths:
        return None if not b.months else CTX.divide(Decimal(a.months), Decimal(b.months))
    if ta is DayTime and tb is DayTime:
        return None if not b.seconds else CTX.divide(a.seconds, b.seconds)
    return None


def power(a: Any, b: Any) -> Any:
    if type(a) is not Decimal or type(b) is not Decimal:
        return None
    if is_integer(b):
        if abs(b) > POWER_EXPONENT_MAX:
            return None
        return _arith(CTX.power, a, int(b))
    return _arith(CTX.power, a, b)


def neg(a: Any) -> Any:
    t = type(a)
    if t is Decimal:
        return -a
    if t is YearsMonths:
        return YearsMonths(-a.months)
    if t is DayTime:
        return DayTime(-a.seconds)
    return None


def _arith(fn: Any, a: Decimal, b: Any) -> Decimal | None:
    try:
        return fn(a, b)
    except (DecimalException, ArithmeticError, ValueError):
        return None


BINARY = {"+": add, "-": sub, "*": mul, "/": div, "**": power}
