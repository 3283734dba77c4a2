"""Cron timer cycles, as Zeebe accepts them (Spring's format, in UTC).

Six fields: second minute hour day-of-month month day-of-week (five fields: seconds are 0).
Each field takes `*`, `?`, numbers, ranges `a-b`, steps `*/n`, `a/n`, `a-b/n` and lists;
months and weekdays also by name (`JAN`, `MON-FRI`; Sunday is 0 or 7). When both day fields
are restricted, a day must match both (Spring). `L`, `W` and `#` are refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from zennode.engine.expressions import ExpressionFailed

SEARCH_DAYS_MAX = 366 * 8  # a day pattern that matches nothing in 8 years never will
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True, slots=True)
class Cron:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: any day of the month
    months: frozenset[int]
    weekdays: frozenset[int] | None  # None: any weekday; 0 = Sunday

    def next_after(self, after: dt.datetime) -> dt.datetime:
        """The first time strictly after `after` (UTC) that matches."""
        start = after.replace(microsecond=0) + dt.timedelta(seconds=1)
        day = start.date()
        for _ in range(SEARCH_DAYS_MAX):
            if self._day_matches(day):
                first = start if day == start.date() else None
                found = self._time_on(day, first)
                if found is not None:
                    return found
            day += dt.timedelta(days=1)
        raise ExpressionFailed("the cron expression matches no time in the next years")

    def _day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        if self.days is not None and day.day not in self.days:
            return False
        weekday = (day.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        return self.weekdays is None or weekday in self.weekdays

    def _time_on(self, day: dt.date, not_before: dt.datetime | None) -> dt.datetime | None:
        floor = not_before.time() if not_before is not None else dt.time(0, 0, 0)
        for hour in sorted(self.hours):
            if hour < floor.hour:
                continue
            for minute in sorted(self.minutes):
                if (hour, minute) < (floor.hour, floor.minute):
                    continue
                for second in sorted(self.seconds):
                    if (hour, minute, second) >= (floor.hour, floor.minute, floor.second):
                        return dt.datetime.combine(
                            day, dt.time(hour, minute, second), tzinfo=dt.UTC
                        )
        return None


def looks_like_cron(text: str) -> bool:
    return len(text.split()) in (5, 6)


def parse(text: str) -> Cron:
    parts = text.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise ExpressionFailed(f"cron expression '{text}' needs 6 fields (or 5)")
    second, minute, hour, day, month, weekday = parts
    return Cron(
        seconds=_field(second, 0, 59, text),
        minutes=_field(minute, 0, 59, text),
        hours=_field(hour, 0, 23, text),
        days=None if day in ("*", "?") else _field(day, 1, 31, text),
        months=_field(month, 1, 12, text, _MONTHS, 1),
        weekdays=None
        if weekday in ("*", "?")
        else frozenset(d % 7 for d in _field(weekday, 0, 7, text, _DAYS, 0)),
    )


def _value(token: str, names: list[str] | None, offset: int, text: str) -> int:
    upper = token.upper()
    if names and upper in names:
        return names.index(upper) + offset
    if not token.isdigit():
        raise ExpressionFailed(f"cron expression '{text}': '{token}' is not supported")
    return int(token)


def _field(
    spec: str, low: int, high: int, text: str, names: list[str] | None = None, offset: int = 0
) -> frozenset[int]:
    values: set[int] = set()
    for item in spec.split(","):
        base, _, step_text = item.partition("/")
        step = _value(step_text, None, 0, text) if step_text else 1
        if step < 1:
            raise ExpressionFailed(f"cron expression '{text}': step 0")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, names, offset, text), _value(b, names, offset, text)
        else:
            start = _value(base, names, offset, text)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ExpressionFailed(f"cron expression '{text}': '{item}' is out of range")
        values.update(range(start, end + 1, step))
    return frozenset(values)
