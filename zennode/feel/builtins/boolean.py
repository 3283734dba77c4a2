"""Boolean and generic built-ins: not, is, is defined, string."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..functions import builtin
from ..temporal import FeelTime
from ..values import equal, to_string, type_name
from ._util import unwrapping


@builtin("not", ("negand",))
def not_(v: Any) -> Any:
    return (not v) if isinstance(v, bool) else None


@builtin("is", ("value1", "value2"))
def is_(a: Any, b: Any) -> Any:
    """Identity: same type and same value, including the time zone representation."""
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, dt.datetime):
        return equal(a, b) is True and a.tzinfo == b.tzinfo
    if isinstance(a, FeelTime):
        return a == b
    return equal(a, b) is True


@builtin("is defined", ("value",))
def is_defined(v: Any) -> Any:
    return v is not None


@builtin("string", ("from",))
def string(v: Any) -> Any:
    return None if v is None else to_string(v)


FUNCTIONS = [unwrapping(not_), is_, is_defined, string]
