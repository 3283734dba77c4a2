"""Context built-ins: get value, get entries, context, context put, context merge."""

from __future__ import annotations

from typing import Any

from ..functions import builtin
from ..values import Function
from ._util import is_str


@builtin("get value", ("m", "key"))
def get_value(m: Any, key: Any) -> Any:
    if not isinstance(m, dict):
        return None
    if is_str(key):
        return m.get(key)
    if isinstance(key, list) and key and all(is_str(k) for k in key):
        v: Any = m
        for k in key:
            if not isinstance(v, dict):
                return None
            v = v.get(k)
        return v
    return None


@builtin("get entries", ("m",))
def get_entries(m: Any) -> Any:
    if not isinstance(m, dict):
        return None
    return [{"key": k, "value": v} for k, v in m.items()]


@builtin("context", ("entries",))
def context(entries: Any) -> Any:
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        return None
    out: dict[str, Any] = {}
    for e in entries:
        if not isinstance(e, dict) or "key" not in e or "value" not in e:
            return None
        k = e["key"]
        if not is_str(k) or k in out:
            return None
        out[k] = e["value"]
    return out


def _put(ctx: dict[str, Any], keys: list[str], value: Any) -> Any:
    out = dict(ctx)
    if len(keys) == 1:
        out[keys[0]] = value
        return out
    inner = out.get(keys[0])
    if inner is None:
        inner = {}
    if not isinstance(inner, dict):
        return None
    nested = _put(inner, keys[1:], value)
    if nested is None:
        return None
    out[keys[0]] = nested
    return out


def _context_put_key(ctx: Any, key: Any, value: Any) -> Any:
    if not isinstance(ctx, dict):
        return None
    if is_str(key):
        return _put(ctx, [key], value)
    return None


def _context_put_keys(ctx: Any, keys: Any, value: Any) -> Any:
    if not isinstance(ctx, dict):
        return None
    if is_str(keys):
        keys = [keys]
    if isinstance(keys, list) and keys and all(is_str(k) for k in keys):
        return _put(ctx, keys, value)
    return None


def _context_put_positional(ctx: Any, key: Any, value: Any) -> Any:
    return (_context_put_keys if isinstance(key, list) else _context_put_key)(ctx, key, value)


context_put = Function(
    "context put",
    [("context", "key", "value"), ("context", "keys", "value")],
    _context_put_positional,
    impls=[_context_put_key, _context_put_keys],
)


@builtin("context merge", ("contexts",))
def context_merge(contexts: Any) -> Any:
    if isinstance(contexts, dict):
        contexts = [contexts]
    if not isinstance(contexts, list):
        return None
    out: dict[str, Any] = {}
    for c in contexts:
        if not isinstance(c, dict):
            return None
        out.update(c)
    return out


FUNCTIONS = [get_value, get_entries, context, context_put, context_merge]
