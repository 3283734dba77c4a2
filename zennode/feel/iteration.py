"""What `for` and `some`/`every` iterate over: lists, number ranges `a..b`, ranges of dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .errors import FeelError
from .limits import LIST_ITEMS_MAX
from .numbers import is_integer
from .temporal import add_days, days_between
from .values import MISSING, Range


def iteration_values(start: Any, end: Any = MISSING) -> list[Any] | None:
    """The values of `start..end` (end given) or of the list / range / single value `start`."""
    if end is not MISSING:
        s, e = start, end
        if _plain_date(s) and _plain_date(e):
            days = days_between(s, e)
            if abs(days) + 1 > LIST_ITEMS_MAX:
                raise FeelError(f"range of more than {LIST_ITEMS_MAX} items")
            step = 1 if days >= 0 else -1
            return [add_days(s, i) for i in range(0, days + step, step)]
        if type(s) is not Decimal or type(e) is not Decimal:
            return None
        if not is_integer(s) or not is_integer(e):
            return None
        a, b = int(s), int(e)
        if abs(b - a) + 1 > LIST_ITEMS_MAX:
            raise FeelError(f"range of more than {LIST_ITEMS_MAX} items")
        step = 1 if b >= a else -1
        return [Decimal(i) for i in range(a, b + step, step)]
    if isinstance(start, list):
        return start
    if isinstance(start, Range):
        return expand_range(start)
    if start is None:
        return None
    return [start]


def expand_range(r: Range) -> list[Any] | None:
    s, e = r.start, r.end
    if type(s) is Decimal and type(e) is Decimal and is_integer(s) and is_integer(e):
        a, b = int(s), int(e)
        step = 1 if b >= a else -1
        if not r.start_included:
            a += step
        if not r.end_included:
            b -= step
        if abs(b - a) + 1 > LIST_ITEMS_MAX:
            raise FeelError(f"range of more than {LIST_ITEMS_MAX} items")
        return [Decimal(i) for i in range(a, b + step, step)] if (b - a) * step >= 0 else []
    if _plain_date(s) and _plain_date(e):
        days = days_between(s, e)
        step = 1 if days >= 0 else -1
        a, b = 0, days
        if not r.start_included:
            a += step
        if not r.end_included:
            b -= step
        if abs(b - a) + 1 > LIST_ITEMS_MAX:
            raise FeelError(f"range of more than {LIST_ITEMS_MAX} items")
        return [add_days(s, i) for i in range(a, b + step, step)]
    return None


def _plain_date(v: Any) -> bool:
    return isinstance(v, dt.date) and not isinstance(v, dt.datetime)
