"""Member access: `a.b` on contexts, lists (mapped), temporal values, durations and ranges."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .temporal import (
    DayTime,
    FeelTime,
    YearsMonths,
    format_tz,
    nanos_of,
    real_year,
    timedelta_seconds,
)
from .values import NULL_END, Range


def get_member(v: Any, name: str) -> Any:
    if isinstance(v, dict):
        return v.get(name)
    if isinstance(v, list):
        return [get_member(item, name) for item in v]
    if v is None:
        return None
    return _property(v, name)


def _property(v: Any, name: str) -> Any:
    if isinstance(v, dt.date):
        if name == "year":
            return Decimal(real_year(v))
        if name == "month":
            return Decimal(v.month)
        if name == "day":
            return Decimal(v.day)
        if name == "weekday":
            return Decimal(v.isoweekday())
        if isinstance(v, dt.datetime):
            micro = v.microsecond * 1000 + nanos_of(v)
            return _time_property(v.hour, v.minute, v.second, micro, v.tzinfo, v, name)
        return None
    if isinstance(v, FeelTime):
        micro = v.microsecond * 1000 + v.nanosecond
        return _time_property(v.hour, v.minute, v.second, micro, v.tz, None, name)
    if isinstance(v, YearsMonths):
        sign = -1 if v.months < 0 else 1
        if name == "years":
            return Decimal(sign * (abs(v.months) // 12))
        if name == "months":
            return Decimal(sign * (abs(v.months) % 12))
        return None
    if isinstance(v, DayTime):
        sign = -1 if v.seconds < 0 else 1
        total = abs(v.seconds)
        whole = int(total)
        if name == "days":
            return Decimal(sign * (whole // 86400))
        if name == "hours":
            return Decimal(sign * (whole % 86400 // 3600))
        if name == "minutes":
            return Decimal(sign * (whole % 3600 // 60))
        if name == "seconds":
            return Decimal(sign) * (Decimal(whole % 60) + (total - whole))
        return None
    if isinstance(v, Range):
        if name == "start":
            return None if v.start is NULL_END else v.start
        if name == "end":
            return None if v.end is NULL_END else v.end
        if name == "start included":
            return v.start_included
        if name == "end included":
            return v.end_included
    return None


def _time_property(
    hour: int, minute: int, second: int, nanos: int, tz: Any, d: dt.datetime | None, name: str
) -> Any:
    """`nanos`: the fraction of the second, in nanoseconds."""
    if name == "hour":
        return Decimal(hour)
    if name == "minute":
        return Decimal(minute)
    if name == "second":
        return Decimal(second) + Decimal(nanos).scaleb(-9) if nanos else Decimal(second)
    if name == "time offset":
        if tz is None:
            return None
        ref = d if d is not None else dt.datetime(2000, 1, 1, hour, minute)
        off = tz.utcoffset(ref.replace(tzinfo=None) if d is not None else ref)
        return None if off is None else DayTime(timedelta_seconds(off))
    if name == "timezone":
        if tz is None:
            return None
        text = format_tz(tz)
        return text[1:] if text.startswith("@") else None
    return None
