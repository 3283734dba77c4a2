"""Range built-ins (DMN 1.4 10.3.4.10: before, after, meets, overlaps, ...) and `range(text)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..functions import builtin
from ..values import Function, Range, compare
from ._util import is_str

_LOW, _HIGH = object(), object()  # the missing ends of open ranges


class _Incomparable(Exception):
    pass


def _cmp(a: Any, b: Any) -> int:
    if a is b and a in (_LOW, _HIGH):
        return 0
    if a is _LOW or b is _HIGH:
        return -1
    if a is _HIGH or b is _LOW:
        return 1
    c = compare(a, b)
    if c is None:
        raise _Incomparable
    return c


def _ends(r: Range) -> tuple[Any, bool, Any, bool]:
    s = _LOW if r.start is None else r.start
    e = _HIGH if r.end is None else r.end
    return s, r.start_included, e, r.end_included


def _point(v: Any) -> Range:
    return Range(v, v, True, True)


def _before_pp(a: Any, b: Any) -> bool:
    return _cmp(a, b) < 0


def _before(a: Any, b: Any) -> bool:
    if not isinstance(a, Range) and not isinstance(b, Range):
        return _before_pp(a, b)
    ra = a if isinstance(a, Range) else _point(a)
    rb = b if isinstance(b, Range) else _point(b)
    _, _, e1, ei1 = _ends(ra)
    s2, si2, _, _ = _ends(rb)
    c = _cmp(e1, s2)
    return c < 0 or (c == 0 and not (ei1 and si2))


def _meets(a: Range, b: Range) -> bool:
    _, _, e1, ei1 = _ends(a)
    s2, si2, _, _ = _ends(b)
    return ei1 and si2 and _cmp(e1, s2) == 0


def _overlaps(a: Range, b: Range) -> bool:
    s1, si1, e1, ei1 = _ends(a)
    s2, si2, e2, ei2 = _ends(b)
    c1 = _cmp(e1, s2)
    c2 = _cmp(s1, e2)
    return (c1 > 0 or (c1 == 0 and ei1 and si2)) and (c2 < 0 or (c2 == 0 and si1 and ei2))


def _overlaps_before(a: Range, b: Range) -> bool:
    s1, si1, e1, ei1 = _ends(a)
    s2, si2, e2, ei2 = _ends(b)
    c_ss, c_es, c_ee = _cmp(s1, s2), _cmp(e1, s2), _cmp(e1, e2)
    return (
        (c_ss < 0 or (c_ss == 0 and si1 and not si2))
        and (c_es > 0 or (c_es == 0 and ei1 and si2))
        and (c_ee < 0 or (c_ee == 0 and (not ei1 or ei2)))
    )


def _finishes(a: Any, b: Range) -> bool:
    s2, si2, e2, ei2 = _ends(b)
    if not isinstance(a, Range):
        return bool(ei2) and _cmp(e2, a) == 0
    s1, si1, e1, ei1 = _ends(a)
    c_ss = _cmp(s1, s2)
    return ei1 == ei2 and _cmp(e1, e2) == 0 and (c_ss > 0 or (c_ss == 0 and (not si1 or si2)))


def _includes(a: Range, b: Any) -> bool:
    s1, si1, e1, ei1 = _ends(a)
    if not isinstance(b, Range):
        c1, c2 = _cmp(b, s1), _cmp(b, e1)
        return (c1 > 0 or (c1 == 0 and si1)) and (c2 < 0 or (c2 == 0 and ei1))
    s2, si2, e2, ei2 = _ends(b)
    c_ss, c_ee = _cmp(s1, s2), _cmp(e1, e2)
    return (c_ss < 0 or (c_ss == 0 and (si1 or not si2))) and (
        c_ee > 0 or (c_ee == 0 and (ei1 or not ei2))
    )


def _starts(a: Any, b: Range) -> bool:
    s2, si2, e2, ei2 = _ends(b)
    if not isinstance(a, Range):
        return bool(si2) and _cmp(s2, a) == 0
    s1, si1, e1, ei1 = _ends(a)
    c_ee = _cmp(e1, e2)
    return _cmp(s1, s2) == 0 and si1 == si2 and (c_ee < 0 or (c_ee == 0 and (not ei1 or ei2)))


def _coincides(a: Any, b: Any) -> bool:
    if isinstance(a, Range) != isinstance(b, Range):
        raise _Incomparable
    if not isinstance(a, Range):
        return _cmp(a, b) == 0
    s1, si1, e1, ei1 = _ends(a)
    s2, si2, e2, ei2 = _ends(b)
    return _cmp(s1, s2) == 0 and si1 == si2 and _cmp(e1, e2) == 0 and ei1 == ei2


def _needs_ranges(fn: Callable[[Any, Any], bool], left: str, right: str) -> Callable:
    def check(a: Any, b: Any) -> bool:
        if left == "range" and not isinstance(a, Range):
            raise _Incomparable
        if right == "range" and not isinstance(b, Range):
            raise _Incomparable
        if left == "point" and isinstance(a, Range):
            raise _Incomparable
        if right == "point" and isinstance(b, Range):
            raise _Incomparable
        return fn(a, b)

    return check


def _make(name: str, sigs: list[tuple[str, str]], impl: Callable[[Any, Any], bool]) -> Function:
    def run(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        try:
            return impl(a, b)
        except _Incomparable:
            return None

    return Function(name, [tuple(s) for s in sigs], run)


_PP = [("point1", "point2"), ("point", "range"), ("range", "point"), ("range1", "range2")]
_RR = [("range1", "range2")]
_RP = [("range", "point"), ("range1", "range2")]
_PR = [("point", "range"), ("range1", "range2")]


def _rr(fn: Callable[[Range, Range], bool]) -> Callable[[Any, Any], bool]:
    return _needs_ranges(fn, "range", "range")


def _includes_any(a: Any, b: Any) -> bool:
    if not isinstance(a, Range):
        raise _Incomparable
    return _includes(a, b)


def _during(a: Any, b: Any) -> bool:
    if not isinstance(b, Range):
        raise _Incomparable
    return _includes(b, a)


def _finishes_any(a: Any, b: Any) -> bool:
    if not isinstance(b, Range):
        raise _Incomparable
    return _finishes(a, b)


def _starts_any(a: Any, b: Any) -> bool:
    if not isinstance(b, Range):
        raise _Incomparable
    return _starts(a, b)


@builtin("range", ("from",))
def range_(text: Any) -> Any:
    if not is_str(text):
        return None
    from ..api import compile_range  # late: api -> compiler -> builtins would be a cycle

    return compile_range(text)


FUNCTIONS = [
    _make("before", _PP, _before),
    _make("after", _PP, lambda a, b: _before(b, a)),
    _make("meets", _RR, _rr(_meets)),
    _make("met by", _RR, _rr(lambda a, b: _meets(b, a))),
    _make("overlaps", _RR, _rr(_overlaps)),
    _make("overlaps before", _RR, _rr(_overlaps_before)),
    _make("overlaps after", _RR, _rr(lambda a, b: _overlaps_before(b, a))),
    _make("finishes", _PR, _finishes_any),
    _make("finished by", _RP, lambda a, b: _finishes_any(b, a)),
    _make("includes", _RP, _includes_any),
    _make("during", _PR, _during),
    _make("starts", _PR, _starts_any),
    _make("started by", _RP, lambda a, b: _starts_any(b, a)),
    _make("coincides", _PP[:1] + _RR, _coincides),
    range_,
]
