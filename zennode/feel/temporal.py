"""FEEL temporal values: date, time, date and time and the two duration kinds.

Dates and date-times are Python `date` / `datetime` (time zone: none, a fixed offset or an IANA
zone via `zoneinfo`). Python has no time-of-day with a zone id, and its durations mix days and
months, so FEEL gets its own small classes `FeelTime`, `YearsMonths` and `DayTime`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .numbers import CTX, ZERO

Tz = dt.tzinfo | None

_MICRO = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class YearsMonths:
    """A years and months duration, held as a signed count of months."""

    months: int

    def __str__(self) -> str:
        m = abs(self.months)
        sign = "-" if self.months < 0 else ""
        years, months = divmod(m, 12)
        if m == 0:
            return "P0M"
        return sign + "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")


@dataclass(frozen=True, slots=True)
class DayTime:
    """A days and time duration, held as signed seconds (a Decimal, so sub-second is exact)."""

    seconds: Decimal

    def to_timedelta(self) -> dt.timedelta:
        return dt.timedelta(microseconds=int(self.seconds.scaleb(6).to_integral_value()))

    def __str__(self) -> str:
        s = abs(self.seconds)
        sign = "-" if self.seconds < 0 else ""
        if s == 0:
            return "PT0S"
        whole = int(s)
        frac = s - whole
        days, rest = divmod(whole, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        out = sign + "P" + (f"{days}D" if days else "")
        time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
        if secs or frac:
            sec_text = format((Decimal(secs) + frac).normalize(), "f")
            time_part += f"{sec_text}S"
        if time_part:
            out += "T" + time_part
        return out


@dataclass(frozen=True, slots=True)
class FeelTime:
    """A time of day with an optional offset or zone id; `nanosecond` is the part below a
    microsecond (0..999), which Python's `time` cannot hold."""

    hour: int
    minute: int
    second: int
    microsecond: int = 0
    tz: Tz = None
    nanosecond: int = 0

    def offset(self) -> dt.timedelta | None:
        if self.tz is None:
            return None
        # A zone id has no offset without a date; use a fixed reference date to stay
        # deterministic (the same answer on every replica, whatever the clock says).
        return self.tz.utcoffset(dt.datetime(2000, 1, 1, self.hour, self.minute))

    def seconds_of_day(self) -> Decimal:
        whole = Decimal(self.hour * 3600 + self.minute * 60 + self.second)
        return whole + Decimal(self.microsecond * 1000 + self.nanosecond).scaleb(-9)

    def utc_key(self) -> Decimal | None:
        off = self.offset()
        if off is None:
            return None
        return (self.seconds_of_day() - Decimal(int(off.total_seconds()))) % 86400

    def as_time(self) -> dt.time:
        return dt.time(self.hour, self.minute, self.second, self.microsecond)

    def __str__(self) -> str:
        return format_time(self.as_time(), self.nanosecond) + format_tz(self.tz)

    @staticmethod
    def from_seconds(total: Decimal, tz: Tz) -> FeelTime:
        """The time `total` seconds after midnight (0 <= total < 86400), to the nanosecond."""
        n = int(total.scaleb(9).to_integral_value(rounding=ROUND_FLOOR))
        secs, n = divmod(n, 1_000_000_000)
        micro, nano = divmod(n, 1000)
        return FeelTime(secs // 3600, secs % 3600 // 60, secs % 60, micro, tz, nano)


def format_tz(tz: Tz) -> str:
    if tz is None:
        return ""
    if isinstance(tz, ZoneInfo):
        return "@" + tz.key
    off = tz.utcoffset(None)
    if off is None:
        return ""
    if off == dt.timedelta(0):
        return "Z"
    total = int(off.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    text = f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"
    if total % 60:
        text += f":{total % 60:02d}"
    return text


def format_time(t: dt.time, nanos: int = 0) -> str:
    text = f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond or nanos:
        text += ("." + f"{t.microsecond:06d}{nanos:03d}").rstrip("0")
    return text


def format_date(d: dt.date) -> str:
    year = real_year(d)
    sign = "-" if year < 0 else ""
    return f"{sign}{abs(year):04d}-{d.month:02d}-{d.day:02d}"


def format_datetime(d: dt.datetime) -> str:
    return format_date(d) + "T" + format_time(d.time(), nanos_of(d)) + format_tz(d.tzinfo)


# ---------------------------------------------------------------- years outside 1..9999
#
# FEEL allows years from -999,999,999 to 999,999,999; Python's date stops at 1..9999. The
# Gregorian calendar repeats every 400 years (146,097 days, a whole number of weeks), so such a
# date is kept as a Python date 400·k years away, in 2000..2399, plus `cycles` = k. All calendar
# rules (leap years, month lengths, weekdays) are the same there. Date math goes through
# `split` / `join` below; everything else can treat these values as ordinary dates.

CYCLE_YEARS = 400
CYCLE_DAYS = 146_097
_BASE_YEAR = 2000


class FarDate(dt.date):
    """A date with a year outside 1..9999 (see above)."""

    cycles: int = 0


class FarDateTime(dt.datetime):
    """A date and time with a year outside 1..9999 (see above)."""

    cycles: int = 0
    nanos: int = 0


class NanoDateTime(dt.datetime):
    """A date and time with digits below the microsecond: `nanos` (0..999) holds them.

    Comparisons, subtraction and formatting take `nanos` into account (`nanos_of`); adding a
    duration keeps it.
    """

    nanos: int = 0


def nanos_of(v: dt.date) -> int:
    return getattr(v, "nanos", 0)


def with_nanos(v: dt.datetime, nanos: int) -> dt.datetime:
    """`v` carrying `nanos` below its microsecond (a plain value when there are none)."""
    if not nanos and not nanos_of(v):
        return v
    fields = (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo)
    if isinstance(v, FarDateTime):
        out: dt.datetime = FarDateTime(*fields)
        out.cycles = v.cycles  # type: ignore[attr-defined]
    elif nanos:
        out = NanoDateTime(*fields)
    else:
        return dt.datetime(*fields)
    out.nanos = nanos  # type: ignore[attr-defined]
    return out


def real_year(v: dt.date) -> int:
    return v.year + CYCLE_YEARS * getattr(v, "cycles", 0)


def split(v: dt.date) -> tuple[dt.date, int]:
    """(the same date moved into 2000..2399 as a plain Python value, number of 400-year cycles)."""
    year = real_year(v)
    k = (year - _BASE_YEAR) // CYCLE_YEARS
    base_year = year - CYCLE_YEARS * k
    if isinstance(v, dt.datetime):
        base: dt.date = dt.datetime(
            base_year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo
        )
    else:
        base = dt.date(base_year, v.month, v.day)
    return base, k


def join(base: dt.date, cycles: int) -> dt.date:
    """Inverse of `split`: a plain value when the year fits Python, a Far* value otherwise."""
    year = base.year + CYCLE_YEARS * cycles
    if 1 <= year <= 9999:
        if isinstance(base, dt.datetime):
            return dt.datetime(
                year,
                base.month,
                base.day,
                base.hour,
                base.minute,
                base.second,
                base.microsecond,
                base.tzinfo,
            )
        return dt.date(year, base.month, base.day)
    k = (year - _BASE_YEAR) // CYCLE_YEARS
    stored = year - CYCLE_YEARS * k
    far: dt.date
    if isinstance(base, dt.datetime):
        far = FarDateTime(
            stored,
            base.month,
            base.day,
            base.hour,
            base.minute,
            base.second,
            base.microsecond,
            base.tzinfo,
        )
    else:
        far = FarDate(stored, base.month, base.day)
    far.cycles = k  # type: ignore[attr-defined]
    return far


def make_date(year: int, month: int, day: int) -> dt.date | None:
    if not -999_999_999 <= year <= 999_999_999:
        return None
    try:
        k = (year - _BASE_YEAR) // CYCLE_YEARS
        return join(dt.date(year - CYCLE_YEARS * k, month, day), k)
    except ValueError:
        return None


def make_datetime(d: dt.date, t: FeelTime) -> dt.datetime:
    base, k = split(d)
    value = join(
        dt.datetime(
            base.year, base.month, base.day, t.hour, t.minute, t.second, t.microsecond, t.tz
        ),
        k,
    )
    return with_nanos(value, t.nanosecond)  # type: ignore[arg-type]


def date_part(v: dt.date) -> dt.date:
    base, k = split(v)
    return join(dt.date(base.year, base.month, base.day), k)


def difference(a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """a - b for two date-times of the same kind (both zoned or both local), any years.

    Zoned values are compared as instants: Python subtracts two values with the *same* zone
    on their wall clocks, which is an hour off across a daylight-saving change.
    """
    (ba, ka), (bb, kb) = split(a), split(b)
    if ba.tzinfo is not None and bb.tzinfo is not None:  # type: ignore[attr-defined]
        ba, bb = ba.astimezone(dt.UTC), bb.astimezone(dt.UTC)  # type: ignore[attr-defined]
    return (ba - bb) + dt.timedelta(days=CYCLE_DAYS * (ka - kb))  # type: ignore[operator]


def add_days(d: dt.date, days: int) -> dt.date:
    base, k = split(d)
    return join(base + dt.timedelta(days=days), k)


def as_datetime(v: dt.date, tz: dt.tzinfo | None = None) -> dt.datetime:
    """A date as midnight (in `tz`), a date and time as it is (given `tz` when it has none)."""
    base, k = split(v)
    if isinstance(base, dt.datetime):
        return v if v.tzinfo is not None or tz is None else join(base.replace(tzinfo=tz), k)  # type: ignore[return-value]
    return join(dt.datetime(base.year, base.month, base.day, tzinfo=tz), k)  # type: ignore[return-value]


def days_between(a: dt.date, b: dt.date) -> int:
    """b - a in days for two plain dates, any years."""
    (ba, ka), (bb, kb) = split(a), split(b)
    return (bb - ba).days + CYCLE_DAYS * (kb - ka)


# ---------------------------------------------------------------- parsing

_DATE_RE = re.compile(r"(-?\d{4,9})-(\d\d)-(\d\d)")
_TIME_RE = re.compile(
    r"(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d(?::\d\d)?|@[A-Za-z0-9_/+\-]+)?"
)
_DURATION_RE = re.compile(
    r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)


def parse_tz(text: str | None) -> Tz | bool:
    """Zone suffix -> tzinfo; None for no suffix; False when the suffix is invalid."""
    if not text:
        return None
    if text in ("Z", "z"):
        return dt.UTC
    if text.startswith("@"):
        return zone(text[1:]) or False
    sign = -1 if text[0] == "-" else 1
    parts = [int(p) for p in text[1:].split(":")]
    if parts[0] > 14 or parts[1] > 59:
        return False
    seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
    return dt.timezone(sign * dt.timedelta(seconds=seconds))


def zone(name: str) -> ZoneInfo | None:
    if not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def parse_date(text: str) -> dt.date | None:
    m = _DATE_RE.fullmatch(text)
    if not m:
        return None
    year = m.group(1)
    if len(year.lstrip("-")) > 4 and year.lstrip("-").startswith("0"):
        return None
    return make_date(int(year), int(m.group(2)), int(m.group(3)))


def _fraction(frac: str | None) -> tuple[int, int]:
    """`.123456789` -> (123456 microseconds, 789 nanoseconds); digits beyond 9 are dropped."""
    if not frac:
        return 0, 0
    digits = (frac[1:] + "000000000")[:9]
    return int(digits[:6]), int(digits[6:])


def parse_time(text: str) -> FeelTime | None:
    m = _TIME_RE.fullmatch(text)
    if not m:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if h > 23 or mi > 59 or s > 59:
        if not (h == 24 and mi == 0 and s == 0 and not m.group(4)):
            return None
        h = 0
    tz = parse_tz(m.group(5))
    if tz is False:
        return None
    micro, nano = _fraction(m.group(4))
    return FeelTime(h, mi, s, micro, tz, nano)  # type: ignore[arg-type]


def parse_datetime(text: str) -> dt.datetime | None:
    if "T" not in text:
        d = parse_date(text)
        return None if d is None else make_datetime(d, FeelTime(0, 0, 0))
    date_text, time_text = text.split("T", 1)
    d = parse_date(date_text)
    t = parse_time(time_text)
    if d is None or t is None:
        return None
    value = make_datetime(d, t)
    if time_text.startswith("24"):
        base, k = split(value)
        value = join(base + dt.timedelta(days=1), k)  # type: ignore[assignment]
    return value


def parse_duration(text: str) -> YearsMonths | DayTime | None:
    """`P1Y2M` -> years and months, `P1DT2H` -> days and time; None when not one of them."""
    m = _DURATION_RE.fullmatch(text)
    if not m or text.endswith("T") or text in ("P", "-P"):
        return None
    neg, y, mo, d, h, mi, s = m.groups()
    sign = -1 if neg else 1
    if (y or mo) and not (d or h or mi or s):
        return YearsMonths(sign * (int(y or 0) * 12 + int(mo or 0)))
    if y or mo:
        # an xs:duration mixing both kinds (P1Y2D): FEEL has no such value, and a month has
        # no fixed number of days to fold it into one kind, so it is not a FEEL duration
        return None
    secs = Decimal(int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60) + Decimal(s or 0)
    return DayTime(CTX.multiply(Decimal(sign), secs) if secs else ZERO)


def parse_temporal(text: str) -> object | None:
    """`@"..."` literal: a date, time, date and time or duration, by its shape."""
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    if "T" in text.split("@", 1)[0]:
        return parse_datetime(text)
    if _DATE_RE.fullmatch(text):
        return parse_date(text)
    return parse_time(text)


# ---------------------------------------------------------------- helpers


def timedelta_seconds(delta: dt.timedelta) -> Decimal:
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) * _MICRO


def add_months(value: dt.date | dt.datetime, months: int) -> dt.date | dt.datetime | None:
    """Calendar month arithmetic; the day is clamped to the target month's length."""
    base, k = split(value)
    total = base.year * 12 + (base.month - 1) + months
    year, month = divmod(total, 12)
    shift, year = divmod(year - _BASE_YEAR, CYCLE_YEARS)
    year += _BASE_YEAR
    month += 1
    day = min(base.day, calendar.monthrange(year, month)[1])
    return join(base.replace(year=year, month=month, day=day), k + shift)


def months_between(start: dt.date | dt.datetime, end: dt.date | dt.datetime) -> int:
    """Whole months from start to end (truncated toward zero), as `years and months duration`."""
    months = (real_year(end) - real_year(start)) * 12 + (end.month - start.month)

    def rest(v: dt.date | dt.datetime) -> tuple:
        if isinstance(v, dt.datetime):
            return (v.day, v.hour, v.minute, v.second, v.microsecond)
        return (v.day, 0, 0, 0, 0)

    if months > 0 and rest(end) < rest(start):
        months -= 1
    elif months < 0 and rest(end) > rest(start):
        months += 1
    return months
