"""List built-ins: membership, aggregation, statistics, slicing and reshaping."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from ..errors import FeelError
from ..functions import builtin, call
from ..limits import LIST_ITEMS_MAX, PAIRWISE_ITEMS_MAX
from ..numbers import CTX
from ..temporal import DayTime, YearsMonths
from ..values import MISSING, Function, compare, equal, type_name
from ._util import as_int, is_num


def _limit(items: list[Any]) -> list[Any]:
    if len(items) > LIST_ITEMS_MAX:
        raise FeelError(f"list longer than {LIST_ITEMS_MAX} items")
    return items


@builtin("list contains", ("list", "element"))
def list_contains(items: Any, element: Any) -> Any:
    if not isinstance(items, list):
        return None
    return any(equal(v, element) is True for v in items)


@builtin("count", ("list",))
def count(items: Any) -> Any:
    return Decimal(len(items)) if isinstance(items, list) else None


def _min(items: list[Any]) -> Any:
    return _pick_extreme(items, -1)


def _max(items: list[Any]) -> Any:
    return _pick_extreme(items, 1)


def _pick_extreme(items: list[Any], sign: int) -> Any:
    if not items:
        return None
    best = items[0]
    if best is None:
        return None
    for v in items[1:]:
        c = compare(v, best)
        if c is None:
            return None
        if c * sign > 0:
            best = v
    return best


def _sum(items: list[Any]) -> Any:
    if not items:
        return None
    if not all(is_num(v) for v in items):
        return None
    total = Decimal(0)
    for v in items:
        total = CTX.add(total, v)
    return total


def _product(items: list[Any]) -> Any:
    if not items or not all(is_num(v) for v in items):
        return None
    total = Decimal(1)
    for v in items:
        total = CTX.multiply(total, v)
    return total


def _mean(items: list[Any]) -> Any:
    s = _sum(items)
    return None if s is None else CTX.divide(s, Decimal(len(items)))


def _median(items: list[Any]) -> Any:
    if not items or not all(is_num(v) for v in items):
        return None
    ordered = sorted(items)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    return CTX.divide(CTX.add(ordered[n // 2 - 1], ordered[n // 2]), Decimal(2))


def _stddev(items: list[Any]) -> Any:
    if len(items) < 2 or not all(is_num(v) for v in items):
        return None
    mean = _mean(items)
    sq = Decimal(0)
    for v in items:
        d = CTX.subtract(v, mean)
        sq = CTX.add(sq, CTX.multiply(d, d))
    return CTX.sqrt(CTX.divide(sq, Decimal(len(items) - 1)))


def _mode(items: list[Any]) -> Any:
    if not all(is_num(v) for v in items):
        return None
    counts: dict[Decimal, int] = {}
    for v in items:
        counts[v] = counts.get(v, 0) + 1
    if not counts:
        return []
    top = max(counts.values())
    return sorted(v for v, c in counts.items() if c == top)


def _all(items: list[Any]) -> Any:
    result: bool | None = True
    for v in items:
        if v is False:
            return False
        if v is not True:
            result = None
    return result


def _any(items: list[Any]) -> Any:
    result: bool | None = False
    for v in items:
        if v is True:
            return True
        if v is not False:
            result = None
    return result


def _make(name: str, impl: Any) -> Function:
    """A built-in called either with one list, `f([1, 2])`, or with the items, `f(1, 2)`."""

    def run(arg: Any) -> Any:
        if arg is None:
            return None
        return impl(arg if isinstance(arg, list) else [arg])

    return Function(name, [("list",), ("+c",)], run)


@builtin("sublist", ("list", "start position", "length?"))
def sublist(items: Any, start: Any, length: Any) -> Any:
    i = as_int(start)
    if not isinstance(items, list) or not i:
        return None
    n = len(items)
    if abs(i) > n:
        return None
    begin = i - 1 if i > 0 else n + i
    if length is MISSING:
        return items[begin:]
    size = as_int(length)
    if size is None or size < 0 or begin + size > n:
        return None
    return items[begin : begin + size]


@builtin("append", ("list", "*item"))
def append(items: Any, extra: list[Any]) -> Any:
    if not isinstance(items, list):
        return None
    return _limit(items + extra)


@builtin("concatenate", ("*lists",))
def concatenate(lists: list[Any]) -> Any:
    out: list[Any] = []
    for v in lists:
        if not isinstance(v, list):
            return None
        out.extend(v)
        _limit(out)
    return out


@builtin("insert before", ("list", "position", "newItem"))
def insert_before(items: Any, position: Any, new_item: Any) -> Any:
    p = as_int(position)
    if not isinstance(items, list) or not p:
        return None
    n = len(items)
    if abs(p) > n:
        return None
    i = p - 1 if p > 0 else n + p
    return items[:i] + [new_item] + items[i:]


@builtin("remove", ("list", "position"))
def remove(items: Any, position: Any) -> Any:
    p = as_int(position)
    if not isinstance(items, list) or not p:
        return None
    n = len(items)
    if abs(p) > n:
        return None
    i = p - 1 if p > 0 else n + p
    return items[:i] + items[i + 1 :]


@builtin("reverse", ("list",))
def reverse(items: Any) -> Any:
    return items[::-1] if isinstance(items, list) else None


@builtin("index of", ("list", "match"))
def index_of(items: Any, match: Any) -> Any:
    if not isinstance(items, list):
        return None
    return [Decimal(i + 1) for i, v in enumerate(items) if equal(v, match) is True]


_HASHABLE = (str, bool, Decimal, dt.date, YearsMonths, DayTime)


def occurrences(items: list[Any]) -> list[list[Any]]:
    """[value, count] per distinct value (FEEL equality), in order of first occurrence.

    Hashes where FEEL equality agrees with Python's; lists, contexts, times and zoned values
    are compared pairwise, at most PAIRWISE_ITEMS_MAX of them.
    """
    out: list[list[Any]] = []
    by_key: dict[tuple[str, Any], list[Any]] = {}
    others: list[list[Any]] = []
    for v in items:
        if v is None or isinstance(v, _HASHABLE) and not _zoned(v):
            key = (type_name(v), v)
            entry = by_key.get(key)
            if entry is None:
                entry = by_key[key] = [v, 0]
                out.append(entry)
            entry[1] += 1
            continue
        for entry in others:
            if equal(v, entry[0]) is True:
                entry[1] += 1
                break
        else:
            if len(others) >= PAIRWISE_ITEMS_MAX:
                raise FeelError(f"more than {PAIRWISE_ITEMS_MAX} distinct structured values")
            entry = [v, 1]
            others.append(entry)
            out.append(entry)
    return out


def _distinct(items: list[Any]) -> list[Any]:
    return [v for v, _ in occurrences(items)]


def _zoned(v: Any) -> bool:
    return (
        isinstance(v, dt.datetime)
        and v.tzinfo is not None
        or hasattr(v, "cycles")
        or (hasattr(v, "nanos"))
    )


@builtin("union", ("*lists",))
def union(lists: list[Any]) -> Any:
    out: list[Any] = []
    for v in lists:
        if not isinstance(v, list):
            return None
        out.extend(v)
    return _distinct(_limit(out))


@builtin("distinct values", ("list",))
def distinct_values(items: Any) -> Any:
    return _distinct(items) if isinstance(items, list) else None


@builtin("flatten", ("list",))
def flatten(items: Any) -> Any:
    if not isinstance(items, list):
        return None
    out: list[Any] = []

    def walk(v: list[Any], depth: int) -> None:
        if depth > 64:
            raise FeelError("list nested too deeply to flatten")
        for x in v:
            if isinstance(x, list):
                walk(x, depth + 1)
            else:
                out.append(x)
                if len(out) > LIST_ITEMS_MAX:
                    raise FeelError(f"list longer than {LIST_ITEMS_MAX} items")

    walk(items, 0)
    return out


@builtin("list replace", ("list", "position", "newItem"), ("list", "match", "newItem"))
def list_replace(items: Any, position: Any, new_item: Any) -> Any:
    if not isinstance(items, list):
        return None
    if isinstance(position, Function):
        out = []
        for v in items:
            r = call(position, [v, new_item])
            if r is True:
                out.append(new_item)
            elif r is False:
                out.append(v)
            else:
                return None
        return out
    p = as_int(position)
    if not p:
        return None
    n = len(items)
    if abs(p) > n:
        return None
    i = p - 1 if p > 0 else n + p
    out = list(items)
    out[i] = new_item
    return out


@builtin("sort", ("list", "precedes?"))
def sort(items: Any, precedes: Any) -> Any:
    if not isinstance(items, list):
        return None
    if precedes is MISSING or precedes is None:
        try:

            def cmp(a: Any, b: Any) -> int:
                c = compare(a, b)
                if c is None:
                    raise ValueError
                return c

            return sorted(items, key=functools.cmp_to_key(cmp))
        except ValueError:
            return None
    if not isinstance(precedes, Function):
        return None
    # insertion by merge sort with the FEEL comparison function (stable, n log n calls)
    failed = False

    def before(a: Any, b: Any) -> bool:
        nonlocal failed
        r = call(precedes, [a, b])
        if not isinstance(r, bool):
            failed = True
            return False
        return r

    def merge_sort(v: list[Any]) -> list[Any]:
        if len(v) <= 1:
            return v
        mid = len(v) // 2
        left, right = merge_sort(v[:mid]), merge_sort(v[mid:])
        out = []
        i = j = 0
        while i < len(left) and j < len(right):
            if before(right[j], left[i]):
                out.append(right[j])
                j += 1
            else:
                out.append(left[i])
                i += 1
        return out + left[i:] + right[j:]

    result = merge_sort(list(items))
    return None if failed else result


FUNCTIONS = [
    list_contains,
    count,
    _make("min", _min),
    _make("max", _max),
    _make("sum", _sum),
    _make("product", _product),
    _make("mean", _mean),
    _make("median", _median),
    _make("stddev", _stddev),
    _make("mode", _mode),
    _make("all", _all),
    _make("any", _any),
    sublist,
    append,
    concatenate,
    insert_before,
    remove,
    reverse,
    index_of,
    union,
    distinct_values,
    flatten,
    list_replace,
    sort,
]
