"""FEEL type expressions (`instance of`, typed parameters, TCK typeRef) and conformance checks.

A type is a tuple: ("Any",), ("Null",), ("name", "number"), ("list", t), ("range", t),
("context", ((key, t), ...)) or ("function", (param types...), result type).
"""

from __future__ import annotations

from typing import Any

from .temporal import DayTime, YearsMonths
from .values import Function, Range, type_name

ANY = ("Any",)

_ALIASES = {
    "dateTime": "date and time",
    "dayTimeDuration": "days and time duration",
    "yearMonthDuration": "years and months duration",
    "duration": "duration",
}

SIMPLE = {
    "number",
    "string",
    "boolean",
    "date",
    "time",
    "date and time",
    "years and months duration",
    "days and time duration",
    "context",
    "list",
    "range",
    "function",
    "duration",
}


def named(name: str) -> tuple:
    name = _ALIASES.get(name, name)
    if name == "Any":
        return ANY
    if name == "Null":
        return ("Null",)
    if name == "list":
        return ("list", ANY)
    if name == "range":
        return ("range", ANY)
    if name == "context":
        return ("context", None)
    if name == "function":
        return ("function", None, ANY)
    return ("name", name)


def is_instance(value: Any, t: tuple) -> bool:
    """`value instance of t`; null is an instance of `Null` and `Any` only."""
    kind = t[0]
    if kind == "Any":
        return True
    if value is None:
        return kind == "Null"
    if kind == "Null":
        return False
    if kind == "name":
        name = t[1]
        if name == "duration":
            return isinstance(value, (YearsMonths, DayTime))
        return type_name(value) == name
    if kind == "list":
        return isinstance(value, list) and all(is_instance(v, t[1]) for v in value)
    if kind == "range":
        if not isinstance(value, Range):
            return False
        return all(e is None or is_instance(e, t[1]) for e in (value.start, value.end))
    if kind == "context":
        if not isinstance(value, dict):
            return False
        if t[1] is None:
            return True
        return all(k in value and is_instance(value[k], kt) for k, kt in t[1])
    if kind == "function":
        if not isinstance(value, Function):
            return False
        if t[1] is None:
            return True
        if value.param_types is None:
            return False
        if len(value.param_types) != len(t[1]):
            return False
        # parameters are contravariant, the result covariant
        return all(conforms(b, a) for a, b in zip(value.param_types, t[1], strict=True)) and (
            conforms(value.result_type or ANY, t[2])
        )
    return False


def conforms(sub: tuple, sup: tuple) -> bool:
    """Type `sub` conforms to `sup` (sub <: sup)."""
    if sup[0] == "Any":
        return True
    if sub[0] == "Null":
        return True
    if sub[0] != sup[0]:
        return False
    if sub[0] == "name":
        return sub[1] == sup[1] or (
            sup[1] == "duration"
            and sub[1] in ("years and months duration", "days and time duration")
        )
    if sub[0] in ("list", "range"):
        return conforms(sub[1], sup[1])
    if sub[0] == "context":
        if sup[1] is None:
            return True
        if sub[1] is None:
            return False
        sub_map = dict(sub[1])
        return all(k in sub_map and conforms(sub_map[k], kt) for k, kt in sup[1])
    if sub[0] == "function":
        if sup[1] is None:
            return True
        if sub[1] is None or len(sub[1]) != len(sup[1]):
            return False
        return all(conforms(b, a) for a, b in zip(sub[1], sup[1], strict=True)) and conforms(
            sub[2], sup[2]
        )
    return False


def coerce(value: Any, t: tuple) -> Any:
    """DMN result/parameter conversion: singleton list <-> item, non-conforming -> null."""
    if t[0] == "Any" or value is None:
        return value
    if is_instance(value, t):
        return value
    if t[0] != "list" and isinstance(value, list) and len(value) == 1 and is_instance(value[0], t):
        return value[0]
    if t[0] == "list" and not isinstance(value, list) and is_instance(value, t[1]):
        return [value]
    return None
