"""When a timer is due: ISO 8601 dates, durations and repeating cycles, from the command's time.

Pure: `now_ms` is the time of the command that opens (or re-arms) the timer, never a clock.
Supported forms, as in Zeebe:
- date: `2025-01-01T10:00:00Z` (no offset means UTC), or a FEEL date and time;
- duration: `PT15S`, `P1D`, `P1M` (months from now), or a FEEL duration;
- cycle: `R3/PT10S` (three times, every ten seconds), `R/PT1M` (forever),
  `R2/2025-01-01T10:00:00Z/PT1H` (start date, then every hour), or a cron expression
  (`0 0 9 * * MON-FRI`, see `cron.py`), which repeats forever.

Every due time lies in 1970..9999 (`DUE_MS_MAX`): it is kept as an 8-byte unsigned key and
shown as an ISO date, and Python's dates end with year 9999. A date, duration or cycle that
would be due later "leaves the calendar" (ExpressionFailed: an incident, or a 400 at deploy)
rather than wrapping around to a wrong time; a date before 1970 is already due (0).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from zennode.engine import cron
from zennode.engine.expressions import ExpressionFailed
from zennode.feel import temporal

REPEAT_FOREVER = -1
TIMER_TEXT_MAX = 200


@dataclass(frozen=True, slots=True)
class Schedule:
    """The first due time, how many more firings follow it (-1: forever) and their interval."""

    due_ms: int
    repetitions_left: int = 0
    interval_ms: int = 0
    cron: str | None = None  # a cron cycle: the next due time comes from the expression


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DUE_MS_MAX = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last due time a timer can have


def _to_ms(value: dt.datetime) -> int:
    """Ms since 1970 of any FEEL date and time (no offset: UTC), years outside 1..9999
    included: they are a date in 2000..2399 plus 400-year cycles (see `temporal.split`), which
    `datetime.timestamp` silently dropped, wrapping a year 10016 round to 2016."""
    base, cycles = temporal.split(temporal.as_datetime(value, dt.UTC))
    delta: dt.timedelta = base - _EPOCH  # type: ignore[operator]
    ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return ms + cycles * temporal.CYCLE_DAYS * 86_400_000


def _within_calendar(due_ms: int, text: str) -> int:
    if due_ms > DUE_MS_MAX:
        raise ExpressionFailed(f"'{text}' leaves the calendar (it ends after the year 9999)")
    return due_ms


def _from_ms(now_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)


def parse_date(text: str) -> int:
    value = temporal.parse_datetime(text.strip())
    if value is None:
        raise ExpressionFailed(f"'{text}' is not an ISO 8601 date and time")
    return max(0, _within_calendar(_to_ms(value), text))


def duration_ms(text: str, start_ms: int) -> int:
    """Length of an ISO 8601 duration in ms when it starts at `start_ms` (months vary); it must
    end within the calendar (`DUE_MS_MAX`)."""
    value = temporal.parse_duration(text.strip())
    if isinstance(value, temporal.DayTime):
        ms = int(value.seconds * 1000)
    elif isinstance(value, temporal.YearsMonths):
        start = _from_ms(start_ms)
        moved = temporal.add_months(start, value.months)
        if not isinstance(moved, dt.datetime):
            raise ExpressionFailed(f"duration '{text}' leaves the calendar")
        ms = _to_ms(moved) - start_ms
    else:
        raise ExpressionFailed(f"'{text}' is not an ISO 8601 duration")
    if ms < 0:
        raise ExpressionFailed(f"duration '{text}' is negative")
    _within_calendar(start_ms + ms, text)
    return ms


def schedule(kind: str, text: object, now_ms: int) -> Schedule:
    """The schedule of a timer whose (evaluated) definition is `text`."""
    if not isinstance(text, str) or not text or len(text) > TIMER_TEXT_MAX:
        raise ExpressionFailed(f"a timer {kind} must be a non-empty ISO 8601 text, got {text!r}")
    if kind == "date":
        return Schedule(parse_date(text))
    if kind == "duration":
        return Schedule(now_ms + duration_ms(text, now_ms))
    return _cycle(text, now_ms)


def _cycle(text: str, now_ms: int) -> Schedule:
    if cron.looks_like_cron(text.strip()):
        expression = cron.parse(text.strip())
        due = expression.next_after(_from_ms(now_ms))
        return Schedule(_to_ms(due), REPEAT_FOREVER, 0, text.strip())
    parts = text.strip().split("/")
    if not parts[0].startswith("R"):
        raise ExpressionFailed(
            f"timer cycle '{text}' is neither R<n>/<duration> nor a cron expression"
        )
    count_text = parts[0][1:]
    if count_text and not count_text.isdigit():
        raise ExpressionFailed(f"timer cycle '{text}' has a bad repetition count")
    count = int(count_text) if count_text else REPEAT_FOREVER
    if count == 0:
        raise ExpressionFailed(f"timer cycle '{text}' repeats zero times")
    if len(parts) == 2:
        interval = duration_ms(parts[1], now_ms)
        first = now_ms + interval
    elif len(parts) == 3:
        first = parse_date(parts[1])
        interval = duration_ms(parts[2], first)
    else:
        raise ExpressionFailed(f"timer cycle '{text}' is not R<n>/[<start>/]<duration>")
    if interval <= 0:
        raise ExpressionFailed(f"timer cycle '{text}' has no interval")
    left = REPEAT_FOREVER if count == REPEAT_FOREVER else count - 1
    return Schedule(first, left, interval)


def following(timer: dict[str, Any], now_ms: int) -> Schedule | None:
    """The next firing of a stored timer record that just fired at `now_ms` (None: done)."""
    expression = timer.get("cron")
    if expression is not None:
        due = cron.parse(expression).next_after(_from_ms(max(timer["due"], now_ms)))
        return Schedule(_to_ms(due), REPEAT_FOREVER, 0, expression)
    return next_after(timer["due"], timer["repetitionsLeft"], timer["interval"], now_ms)


def next_after(
    due_ms: int, repetitions_left: int, interval_ms: int, now_ms: int | None = None
) -> Schedule | None:
    """The next firing of a cycle that was due at `due_ms` and fired at `now_ms`, or None when
    it is done. On time, cycles keep their rhythm (`due + interval`, no drift); a cycle that
    fell behind (no leader for a while) fires once and continues from now, instead of firing
    every missed repetition in a burst (Zeebe does the same). A cycle whose next firing would
    leave the calendar (`DUE_MS_MAX`) is done."""
    if repetitions_left == 0 or interval_ms <= 0:
        return None
    left = repetitions_left if repetitions_left == REPEAT_FOREVER else repetitions_left - 1
    following = due_ms + interval_ms
    if now_ms is not None and following <= now_ms:
        following = now_ms + interval_ms
    if following > DUE_MS_MAX:
        return None
    return Schedule(following, left, interval_ms)
