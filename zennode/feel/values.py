"""FEEL value model: which Python type carries which FEEL type, equality, ordering, JSON bridge.

null=None, boolean=bool, number=Decimal, string=str, date=date, date and time=datetime,
time=FeelTime, durations=YearsMonths/DayTime, list=list, context=dict (insertion ordered),
range=Range, function=Function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import FeelError
from .numbers import from_float, is_integer, number
from .temporal import (
    DayTime,
    FeelTime,
    YearsMonths,
    days_between,
    difference,
    format_date,
    format_datetime,
    nanos_of,
)


@dataclass(frozen=True, slots=True)
class Range:
    """An interval; an open end is None (`< 10` is Range(None, 10, False, False))."""

    start: Any
    end: Any
    start_included: bool
    end_included: bool
    #: the unary test `= x` (DMN 1.5 tells it apart from `[x..x]`)
    single: bool = False

    def __str__(self) -> str:
        if self.single:
            return f"={_literal(self.start)}"
        if self.start is None:
            return ("<=" if self.end_included else "<") + _literal(self.end)
        if self.end is None:
            return (">=" if self.start_included else ">") + _literal(self.start)
        left = "[" if self.start_included else "("
        right = "]" if self.end_included else ")"
        return f"{left}{_literal(self.start)}..{_literal(self.end)}{right}"


class _NullEnd:
    """A range endpoint written as `null` (`[null..10]`): unknown, unlike an open end."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "null"


NULL_END = _NullEnd()


@dataclass(eq=False, slots=True)
class Function:
    """A callable FEEL value: a built-in or a user function definition (a closure).

    `signatures` is a list of parameter-name tuples (built-ins may be overloaded); a parameter
    name starting with `*` collects the remaining positional arguments. `call(args)` receives
    the arguments bound to one signature, in its order (missing optional ones as `MISSING`).
    """

    name: str
    signatures: list[tuple[str, ...]]
    call: Callable[..., Any]
    param_types: tuple[Any, ...] | None = None
    result_type: Any = None
    #: for named invocation: one implementation per signature (positional calls use `call`)
    impls: list[Callable[..., Any]] | None = field(default=None)

    def __str__(self) -> str:
        return f"function {self.name}"


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def type_name(value: Any) -> str:
    """The FEEL type name of a value."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "date and time"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, FeelTime):
        return "time"
    if isinstance(value, YearsMonths):
        return "years and months duration"
    if isinstance(value, DayTime):
        return "days and time duration"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "context"
    if isinstance(value, Range):
        return "range"
    if isinstance(value, Function):
        return "function"
    return "Any"


# ---------------------------------------------------------------- equality / order


def equal(a: Any, b: Any) -> bool | None:
    """FEEL `=`: null only equals null; values of different types are not comparable (null)."""
    if a is None or b is None:
        return a is None and b is None
    ta, tb = type(a), type(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if ta is tb else None
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        if isinstance(a, dt.datetime) != isinstance(b, dt.datetime):
            return None
        if isinstance(a, dt.datetime) and (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return _date_order(a, b) == 0
    if ta is tb:
        if ta is list:
            if len(a) != len(b):
                return False
            for x, y in zip(a, b, strict=True):
                r = equal(x, y)
                if r is not True:
                    return r
            return True
        if ta is dict:
            if a.keys() != b.keys():
                return False
            for k, x in a.items():
                r = equal(x, b[k])
                if r is not True:
                    return r
            return True
        if ta is FeelTime:
            ka, kb = a.utc_key(), b.utc_key()
            if ka is None and kb is None:
                return a.seconds_of_day() == b.seconds_of_day()
            if ka is None or kb is None:
                return False
            return ka == kb
        if ta is Range:
            return (
                a.single == b.single
                and a.start_included == b.start_included
                and a.end_included == b.end_included
                and equal(a.start, b.start) is True
                and equal(a.end, b.end) is True
            )
        if ta is Function:
            return a is b
        return a == b
    return None


def compare(a: Any, b: Any) -> int | None:
    """Order two values of the same ordered type: -1, 0, 1; None when not comparable."""
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        return _date_order(a, b)
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return None
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        return _date_order(a, b)
    if isinstance(a, FeelTime) and isinstance(b, FeelTime):
        ka, kb = a.utc_key(), b.utc_key()
        if (ka is None) != (kb is None):
            return None
        if ka is None:
            ka, kb = a.seconds_of_day(), b.seconds_of_day()
        return (ka > kb) - (ka < kb)
    if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
        return (a.months > b.months) - (a.months < b.months)
    if isinstance(a, DayTime) and isinstance(b, DayTime):
        return (a.seconds > b.seconds) - (a.seconds < b.seconds)
    return None


def _date_order(a: dt.date, b: dt.date) -> int:
    """Order two dates (or two date-times of the same kind), years outside 1..9999 included."""
    if type(a) is type(b) and (
        type(a) is dt.date or (type(a) is dt.datetime and a.tzinfo is None)  # type: ignore[attr-defined]
    ):
        return (a > b) - (a < b)
    if isinstance(a, dt.datetime):
        delta = difference(a, b)  # type: ignore[arg-type]
        if not delta:
            na, nb = nanos_of(a), nanos_of(b)
            return (na > nb) - (na < nb)
        return (delta > dt.timedelta(0)) - (delta < dt.timedelta(0))
    days = days_between(b, a)
    return (days > 0) - (days < 0)


def in_range(value: Any, r: Range) -> bool | None:
    """Whether `value` lies in `r`; None when the types do not compare."""
    if r.start is NULL_END or r.end is NULL_END:
        return None
    if r.start is not None:
        c = compare(value, r.start)
        if c is None:
            return None
        if c < 0 or (c == 0 and not r.start_included):
            return False
    if r.end is not None:
        c = compare(value, r.end)
        if c is None:
            return None
        if c > 0 or (c == 0 and not r.end_included):
            return False
    return True


# ---------------------------------------------------------------- strings


def to_string(value: Any) -> str:
    """FEEL `string(x)` for any value."""
    from .numbers import to_text

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return to_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return format_date(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return str(value)


def _key(name: str) -> str:
    words = name.split(" ")
    if all(
        w and (w[0].isalpha() or w[0] == "_") and all(c.isalnum() or c in "_?'" for c in w)
        for w in words
    ):
        return name
    return _literal(name)


def _literal(value: Any) -> str:
    if value is NULL_END:
        return "null"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return to_string(value)


# ---------------------------------------------------------------- JSON bridge


def from_json(value: Any) -> Any:
    """Turn a JSON-ish Python value into a FEEL value (int/float -> Decimal, recursively).

    Values that already are FEEL values (Decimal, dates, durations, ranges, functions) pass
    through, so callers can mix both.
    """
    t = type(value)
    if t is str or t is bool or t is Decimal or value is None:
        return value
    if t is int:
        return Decimal(value) if -_INT_EXACT < value < _INT_EXACT else number(value)
    if t is dict:
        return {k if type(k) is str else str(k): from_json(v) for k, v in value.items()}
    if t is list:
        return [from_json(v) for v in value]
    return _from_other(value)


_INT_EXACT = 10**34


def _from_other(value: Any) -> Any:
    if isinstance(value, (bool, str, Decimal)):
        return value
    if isinstance(value, int):
        return number(value)
    if isinstance(value, float):
        return from_float(value)
    if isinstance(value, Mapping):
        return {str(k): from_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [from_json(v) for v in value]
    if isinstance(value, dt.time):
        return FeelTime(value.hour, value.minute, value.second, value.microsecond, value.tzinfo)
    if isinstance(value, dt.timedelta):
        from .temporal import timedelta_seconds

        return DayTime(timedelta_seconds(value))
    return value


def to_json(value: Any) -> Any:
    """Turn a FEEL value into JSON (numbers as int when integral, temporals as ISO 8601 text).

    Ranges and functions have no JSON form: FeelError.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FeelError(f"number {value} has no JSON form")
        if is_integer(value):
            if value.adjusted() < 34:
                return int(value)
            # beyond decimal128's digits: a float says the same without 300 zeros
            as_float = float(value)
            return as_float if as_float not in (float("inf"), float("-inf")) else int(value)
        return float(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (dt.date, FeelTime, YearsMonths, DayTime)):
        return to_string(value)
    if isinstance(value, Function) and _is_builtin(value):
        # `count` with no variable `count` is the built-in function (the spec's scope ends in
        # the built-in context): say so, since a missing variable is the likely cause
        raise FeelError(
            f"'{value.name}' is the built-in function {value.name}(), which has no JSON form"
            f" (no variable '{value.name}' is set)"
        )
    raise FeelError(f"a {type_name(value)} has no JSON form")


def _is_builtin(fn: Function) -> bool:
    from .builtins import BUILTINS  # the library imports this module

    return BUILTINS.get(fn.name) is fn
