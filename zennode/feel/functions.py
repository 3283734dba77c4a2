"""Calling FEEL functions: binding positional or named arguments to a signature.

A signature is a tuple of parameter names: `name?` is optional (passed as MISSING when absent),
`*name` collects the remaining positional arguments as a list, `+name` likewise but wants one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .values import MISSING, Function


def _plain(p: str) -> str:
    return p.lstrip("*+").rstrip("?")


def bind(
    fn: Function, args: list[Any], named: dict[str, Any] | None
) -> tuple[int, list[Any]] | None:
    """(signature index, arguments in its order) of the first matching signature, or None."""
    for index, sig in enumerate(fn.signatures):
        if named is None:
            bound = _bind_positional(sig, args)
        else:
            bound = _bind_named(sig, named)
        if bound is not None:
            return index, bound
    return None


def _bind_positional(sig: tuple[str, ...], args: list[Any]) -> list[Any] | None:
    out: list[Any] = []
    i = 0
    for p in sig:
        if p.startswith(("*", "+")):
            if p.startswith("+") and i >= len(args):
                return None
            out.append(list(args[i:]))
            return out
        if i < len(args):
            out.append(args[i])
            i += 1
        elif p.endswith("?"):
            out.append(MISSING)
        else:
            return None
    return out if i == len(args) else None


def _bind_named(sig: tuple[str, ...], named: dict[str, Any]) -> list[Any] | None:
    names = [_plain(p) for p in sig]
    if any(k not in names for k in named):
        return None
    out: list[Any] = []
    for p, n in zip(sig, names, strict=True):
        if n in named:
            v = named[n]
            out.append(v if not p.startswith(("*", "+")) or isinstance(v, list) else [v])
        elif p.endswith("?"):
            out.append(MISSING)
        elif p.startswith("*"):
            out.append([])
        else:
            return None
    return out


def call(fn: Function, args: list[Any], named: dict[str, Any] | None = None) -> Any:
    """Invoke `fn`; a call that matches no signature gives null (FEEL: invalid invocation)."""
    bound = bind(fn, args, named)
    if bound is None:
        return None
    index, values = bound
    if fn.impls is not None and named is not None:
        return fn.impls[index](*values)
    return fn.call(*values)


def builtin(name: str, *signatures: tuple[str, ...]) -> Callable[[Callable[..., Any]], Function]:
    """Decorator: turn a Python function into a FEEL built-in with the given signatures."""

    def wrap(impl: Callable[..., Any]) -> Function:
        return Function(name, list(signatures), impl)

    return wrap
