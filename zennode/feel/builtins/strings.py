"""String built-ins: substring, length, case, search, regex (XPath flavour mapped to `re`)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..functions import builtin
from ..limits import STRING_CHARS_MAX
from ..values import MISSING
from ._util import is_int, is_str


@builtin("substring", ("string", "start position", "length?"))
def substring(s: Any, start: Any, length: Any) -> Any:
    if not is_str(s) or not is_int(start):
        return None
    n = len(s)
    i = int(start)
    if i == 0 or abs(i) > n and i < 0:
        return None
    begin = i - 1 if i > 0 else n + i
    if length is MISSING:
        return s[begin:]
    if not is_int(length) or length < 0:
        return None
    return s[begin : begin + int(length)]


@builtin("string length", ("string",))
def string_length(s: Any) -> Any:
    return Decimal(len(s)) if is_str(s) else None


@builtin("upper case", ("string",))
def upper_case(s: Any) -> Any:
    return s.upper() if is_str(s) else None


@builtin("lower case", ("string",))
def lower_case(s: Any) -> Any:
    return s.lower() if is_str(s) else None


@builtin("substring before", ("string", "match"))
def substring_before(s: Any, match: Any) -> Any:
    if not is_str(s) or not is_str(match):
        return None
    i = s.find(match)
    return "" if i < 0 else s[:i]


@builtin("substring after", ("string", "match"))
def substring_after(s: Any, match: Any) -> Any:
    if not is_str(s) or not is_str(match):
        return None
    i = s.find(match)
    return "" if i < 0 else s[i + len(match) :]


@builtin("contains", ("string", "match"))
def contains(s: Any, match: Any) -> Any:
    return (match in s) if is_str(s) and is_str(match) else None


@builtin("starts with", ("string", "match"))
def starts_with(s: Any, match: Any) -> Any:
    return s.startswith(match) if is_str(s) and is_str(match) else None


@builtin("ends with", ("string", "match"))
def ends_with(s: Any, match: Any) -> Any:
    return s.endswith(match) if is_str(s) and is_str(match) else None


def compile_regex(pattern: Any, flags: Any = MISSING) -> re.Pattern[str] | None:
    """XPath regex + flags (s, m, i, x, q) -> Python pattern; None when invalid."""
    if not is_str(pattern):
        return None
    if flags is MISSING or flags is None:
        flags = ""
    if not is_str(flags) or any(f not in "smixq" for f in flags):
        return None
    value = 0
    if "s" in flags:
        value |= re.DOTALL
    if "m" in flags:
        value |= re.MULTILINE
    if "i" in flags:
        value |= re.IGNORECASE
    if "q" in flags:
        pattern = re.escape(pattern)
    elif "x" in flags:
        pattern = re.sub(r"\s+", "", pattern)
    pattern = _xpath_to_python(pattern)
    try:
        return re.compile(pattern, value)
    except (re.error, RecursionError, OverflowError):
        return None


_CLASSES = {
    r"\p{L}": r"[^\W\d_]",
    r"\p{Lu}": "[A-Z\u00c0-\u00de]",
    r"\p{Ll}": "[a-z\u00df-\u00ff]",
    r"\p{N}": r"\d",
    r"\p{Nd}": r"\d",
    r"\i": "[A-Za-z_:]",
    r"\c": r"[\w.\-:]",
}


def _xpath_to_python(pattern: str) -> str:
    for k, v in _CLASSES.items():
        pattern = pattern.replace(k, v)
    return pattern


@builtin("matches", ("input", "pattern", "flags?"))
def matches(s: Any, pattern: Any, flags: Any) -> Any:
    rx = compile_regex(pattern, flags)
    if rx is None or not is_str(s):
        return None
    return rx.search(s) is not None


@builtin("replace", ("input", "pattern", "replacement", "flags?"))
def replace(s: Any, pattern: Any, replacement: Any, flags: Any) -> Any:
    rx = compile_regex(pattern, flags)
    if rx is None or not is_str(s) or not is_str(replacement):
        return None
    if rx.search("") is not None and "q" not in (flags if is_str(flags) else ""):
        return None  # XPath: a pattern matching the empty string is an error
    if is_str(flags) and "q" in flags:
        repl = replacement.replace("\\", "\\\\")
    else:
        repl = re.sub(r"\$(\d)", r"\\g<\1>", replacement.replace("\\$", "\x00"))
        repl = repl.replace("\x00", "$")
    try:
        out = rx.sub(repl, s)
    except (re.error, IndexError):
        return None
    return out if len(out) <= STRING_CHARS_MAX else None


@builtin("split", ("string", "delimiter"))
def split(s: Any, delimiter: Any) -> Any:
    rx = compile_regex(delimiter)
    if rx is None or not is_str(s) or rx.search("") is not None:
        return None
    return rx.split(s)


@builtin("string join", ("list", "delimiter?"))
def string_join(items: Any, delimiter: Any) -> Any:
    if not isinstance(items, list):
        return None
    if delimiter is MISSING or delimiter is None:
        delimiter = ""
    if not is_str(delimiter):
        return None
    parts = []
    for v in items:
        if v is None:
            continue
        if not is_str(v):
            return None
        parts.append(v)
    return delimiter.join(parts)


FUNCTIONS = [
    substring,
    string_length,
    upper_case,
    lower_case,
    substring_before,
    substring_after,
    contains,
    starts_with,
    ends_with,
    matches,
    replace,
    split,
    string_join,
]
