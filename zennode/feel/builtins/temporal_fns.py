"""Temporal built-ins: constructors (date, time, date and time, durations) and calendar helpers.

`now()` and `today()` read the instant the caller passed to `evaluate(..., now=...)`: the engine
is deterministic and never reads a clock itself.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from decimal import Decimal
from typing import Any

from ..functions import builtin
from ..temporal import (
    DayTime,
    FeelTime,
    YearsMonths,
    date_part,
    make_date,
    make_datetime,
    months_between,
    nanos_of,
    parse_date,
    parse_datetime,
    parse_duration,
    parse_time,
    timedelta_seconds,
)
from ..values import MISSING
from ._util import is_int, is_num, is_str, unwrapping

NOW: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("feel_now", default=None)


def _is_date(v: Any) -> bool:
    return isinstance(v, dt.date) and not isinstance(v, dt.datetime)


@builtin("date", ("from",), ("year", "month", "day"))
def date(*args: Any) -> Any:
    if len(args) == 1:
        v = args[0]
        if is_str(v):
            return parse_date(v)
        if isinstance(v, dt.datetime):
            return date_part(v)
        if _is_date(v):
            return v
        return None
    y, m, d = args
    if not (is_int(y) and is_int(m) and is_int(d)):
        return None
    return make_date(int(y), int(m), int(d))


@builtin("date and time", ("from",), ("date", "time"))
def date_and_time(*args: Any) -> Any:
    if len(args) == 1:
        v = args[0]
        if is_str(v):
            return parse_datetime(v)
        if isinstance(v, dt.datetime):
            return v
        if _is_date(v):
            return make_datetime(v, FeelTime(0, 0, 0))
        return None
    d, t = args
    if not isinstance(d, dt.date) or not isinstance(t, FeelTime):
        return None
    return make_datetime(d, t)


@builtin("time", ("from",), ("hour", "minute", "second", "offset?"))
def time(*args: Any) -> Any:
    if len(args) == 1:
        v = args[0]
        if is_str(v):
            return parse_time(v)
        if isinstance(v, dt.datetime):
            return FeelTime(v.hour, v.minute, v.second, v.microsecond, v.tzinfo, nanos_of(v))
        if _is_date(v):
            return FeelTime(0, 0, 0, 0, dt.UTC)
        if isinstance(v, FeelTime):
            return v
        return None
    h, m, s, offset = args
    if not (is_int(h) and is_int(m) and is_num(s)):
        return None
    if not (0 <= h <= 23 and 0 <= m <= 59 and 0 <= s < 60):
        return None
    tz = None
    if offset is not MISSING and offset is not None:
        if not isinstance(offset, DayTime) or abs(offset.seconds) >= 86400:
            return None
        tz = dt.timezone(offset.to_timedelta())
    return FeelTime.from_seconds(int(h) * 3600 + int(m) * 60 + s, tz)


@builtin("duration", ("from",))
def duration(v: Any) -> Any:
    return parse_duration(v) if is_str(v) else None


@builtin("years and months duration", ("from", "to"))
def years_and_months_duration(start: Any, end: Any) -> Any:
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return None
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
        if (start.tzinfo is None) != (end.tzinfo is None):
            return None
    return YearsMonths(months_between(start, end))


@builtin("day of year", ("date",))
def day_of_year(d: Any) -> Any:
    return Decimal(d.timetuple().tm_yday) if isinstance(d, dt.date) else None


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@builtin("day of week", ("date",))
def day_of_week(d: Any) -> Any:
    return _DAYS[d.weekday()] if isinstance(d, dt.date) else None


@builtin("month of year", ("date",))
def month_of_year(d: Any) -> Any:
    return _MONTHS[d.month - 1] if isinstance(d, dt.date) else None


@builtin("week of year", ("date",))
def week_of_year(d: Any) -> Any:
    return Decimal(d.isocalendar()[1]) if isinstance(d, dt.date) else None


@builtin("now", ())
def now() -> Any:
    return NOW.get()


@builtin("today", ())
def today() -> Any:
    v = NOW.get()
    return None if v is None else date_part(v)


FUNCTIONS = [
    unwrapping(date),
    unwrapping(date_and_time),
    unwrapping(time),
    unwrapping(duration),
    unwrapping(years_and_months_duration),
    unwrapping(day_of_year),
    unwrapping(day_of_week),
    unwrapping(month_of_year),
    unwrapping(week_of_year),
    now,
    today,
]

__all__ = ["FUNCTIONS", "NOW", "timedelta_seconds"]
