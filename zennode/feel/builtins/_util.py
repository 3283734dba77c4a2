"""Small argument checks shared by the built-in families."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..numbers import is_integer
from ..values import MISSING, Function


def is_num(v: Any) -> bool:
    return type(v) is Decimal


def is_int(v: Any) -> bool:
    return type(v) is Decimal and is_integer(v)


def as_int(v: Any) -> int | None:
    """A number used as a position, length or scale, truncated toward zero; None otherwise."""
    if type(v) is not Decimal or not v.is_finite():
        return None
    return int(v)


def unwrap(v: Any) -> Any:
    """DMN implicit conversion: a singleton list where a single value is expected."""
    if type(v) is list and len(v) == 1:
        return v[0]
    return v


def unwrapping(fn: Function) -> Function:
    """A built-in whose parameters all take single values: a singleton list argument gives
    its item (DMN 1.5, 10.3.2.9.4 "from singleton list"), so `abs([-1])` is 1."""
    impl = fn.call

    def call(*args: Any) -> Any:
        return impl(*(unwrap(a) for a in args))

    fn.call = call
    if fn.impls is not None:
        fn.impls = [_unwrapped(i) for i in fn.impls]
    return fn


def _unwrapped(impl: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *args: impl(*(unwrap(a) for a in args))


def is_str(v: Any) -> bool:
    return type(v) is str


def present(v: Any) -> bool:
    return v is not MISSING


def items_of(first: Any, rest: list[Any] | None = None) -> list[Any] | None:
    """The items of `f(list)` or `f(a, b, c)` forms; None when the single argument is null."""
    if rest:
        return [first, *rest]
    if isinstance(first, list):
        return first
    if first is None:
        return None
    return [first]
