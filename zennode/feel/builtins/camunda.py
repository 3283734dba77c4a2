"""Extensions from Camunda 8 / Zeebe FEEL that BPMN models commonly use (not in DMN 1.5).

Only deterministic ones: no `uuid()`, no random numbers. `is defined` lives in the compiler,
because it must see whether a name exists rather than its (null) value.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from ..functions import builtin
from ..temporal import date_part, join, split
from ._util import as_int, is_str
from .lists import occurrences
from .strings import compile_regex


@builtin("get or else", ("value", "default"))
def get_or_else(value: Any, default: Any) -> Any:
    return default if value is None else value


@builtin("is empty", ("list",))
def is_empty(items: Any) -> Any:
    return len(items) == 0 if isinstance(items, list) else None


@builtin("trim", ("string",))
def trim(s: Any) -> Any:
    return s.strip() if is_str(s) else None


@builtin("is blank", ("string",))
def is_blank(s: Any) -> Any:
    return s.strip() == "" if is_str(s) else None


@builtin("extract", ("string", "pattern"))
def extract(s: Any, pattern: Any) -> Any:
    rx = compile_regex(pattern)
    if rx is None or not is_str(s):
        return None
    return [m.group(0) for m in rx.finditer(s)]


@builtin("duplicate values", ("list",))
def duplicate_values(items: Any) -> Any:
    if not isinstance(items, list):
        return None
    return [v for v, n in occurrences(items) if n > 1]


@builtin("partition", ("list", "size"))
def partition(items: Any, size: Any) -> Any:
    n = as_int(size)
    if not isinstance(items, list) or n is None or n <= 0:
        return None
    return [items[i : i + n] for i in range(0, len(items), n)]


@builtin("last day of month", ("date",))
def last_day_of_month(d: Any) -> Any:
    if not isinstance(d, dt.date):
        return None
    base, k = split(date_part(d))
    last = calendar.monthrange(base.year, base.month)[1]
    return join(base.replace(day=last), k)


FUNCTIONS = [
    get_or_else,
    is_empty,
    trim,
    is_blank,
    extract,
    duplicate_values,
    partition,
    last_day_of_month,
]
