"""String built-ins: substring, length, case, search, regex (XPath flavour mapped to `re`)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..errors import FeelError
from ..functions import builtin
from ..limits import STRING_CHARS_MAX
from ..values import MISSING
from ._util import as_int, is_str, unwrapping


@builtin("substring", ("string", "start position", "length?"))
def substring(s: Any, start: Any, length: Any) -> Any:
    i = as_int(start)
    if not is_str(s) or i is None:
        return None
    n = len(s)
    if i == 0 or abs(i) > n and i < 0:
        return None
    begin = i - 1 if i > 0 else n + i
    if length is MISSING:
        return s[begin:]
    size = as_int(length)
    if size is None or size < 0:
        return None
    return s[begin : begin + size]


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
    else:
        translated = _translate(pattern, "x" in flags, "s" in flags)
        if translated is None:
            return None
        pattern = translated
    if _nested_quantifier(pattern):
        return None
    try:
        return re.compile(pattern, value)
    except (re.error, RecursionError, OverflowError):
        return None


def _nested_quantifier(pattern: str) -> bool:
    """A repeated group that itself repeats, like `(a+)+`: the shape of catastrophic backtracking.

    Python's `re` cannot be interrupted and a timeout would not be deterministic across
    replicas, so such patterns are refused up front (the function returns null).
    """
    stack: list[bool] = []  # per open group: does it contain a quantifier?
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            stack.append(False)
        elif c == ")":
            inner = stack.pop() if stack else False
            nxt = pattern[i + 1] if i + 1 < n else ""
            repeats = nxt in "*+" or (nxt == "{" and not pattern.startswith("{1}", i + 1))
            if repeats and inner:
                return True
            if stack and (inner or repeats):
                stack[-1] = True
        elif c in "*+{" and stack:
            stack[-1] = True
        i += 1
    return False


_PROPS = {
    "L": r"^\W\d_",
    "Lu": "A-Z\u00c0-\u00d6\u00d8-\u00de",
    "Ll": "a-z\u00df-\u00f6\u00f8-\u00ff",
    "N": r"\d",
    "Nd": r"\d",
    "IsBasicLatin": "\x00-\x7f",
    "IsLatin-1Supplement": "\x80-\xff",
}


def _prop(name: str, negate: bool, in_class: bool) -> str | None:
    body = _PROPS.get(name)
    if body is None:
        return None
    if body.startswith("^"):  # already a negated set
        inner = body[1:]
        if in_class:
            return None if negate else None
        return f"[{inner}]" if negate else f"[^{inner}]"
    if in_class:
        return None if negate else body
    return f"[^{body}]" if negate else f"[{body}]"


def _translate(pattern: str, extended: bool, dotall: bool = False) -> str | None:
    """XML Schema / XPath regex -> Python: `\\p{..}` classes, class subtraction, `x` flag.

    XPath's `.` matches neither newline nor carriage return (Python's only spares `\\n`), and
    its `x` flag removes every whitespace character outside classes, escaped ones too.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and extended and i + 1 < n and pattern[i + 1].isspace():
            j = i + 1
            while j < n and pattern[j].isspace():
                j += 1
            pattern = pattern[: i + 1] + pattern[j:]
            n = len(pattern)
            continue
        if c == "." and not dotall:
            out.append("[^\\n\\r]")
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            if pattern[i + 1] in "pP" and i + 2 < n and pattern[i + 2] == "{":
                j = pattern.find("}", i)
                if j < 0:
                    return None
                name = pattern[i + 3 : j]
                if extended:
                    name = re.sub(r"\s+", "", name)
                rep = _prop(name, pattern[i + 1] == "P", False)
                if rep is None:
                    return None
                out.append(rep)
                i = j + 1
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[":
            cls = _char_class(pattern, i, extended)
            if cls is None:
                return None
            text, i = cls
            out.append(text)
            continue
        if extended and c.isspace():
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _char_class(pattern: str, i: int, extended: bool) -> tuple[str, int] | None:
    """Translate the class starting at `[` (index i); return (text, index after it)."""
    parts: list[str] = ["["]
    j = i + 1
    n = len(pattern)
    if j < n and pattern[j] == "^":
        parts.append("^")
        j += 1
    while j < n:
        c = pattern[j]
        if c == "\\" and j + 1 < n:
            e = pattern[j + 1]
            if e.isdigit():
                return None  # back-references are not allowed inside a class
            if e in "pP" and j + 2 < n and pattern[j + 2] == "{":
                k = pattern.find("}", j)
                if k < 0:
                    return None
                rep = _prop(pattern[j + 3 : k], e == "P", True)
                if rep is None:
                    return None
                parts.append(rep)
                j = k + 1
                continue
            parts.append(pattern[j : j + 2])
            j += 2
            continue
        if c == "-" and j + 1 < n and pattern[j + 1] == "[":
            sub = _char_class(pattern, j + 1, extended)
            if sub is None or sub[1] >= n or pattern[sub[1]] != "]":
                return None
            base = "".join(parts) + "]"
            return f"(?:(?!{sub[0]}){base})", sub[1] + 1
        if c == "]" and j > i + 1:
            parts.append("]")
            return "".join(parts), j + 1
        parts.append(c)
        j += 1
    return None


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
    size = 0
    for v in items:
        if v is None:
            continue
        if not is_str(v):
            return None
        parts.append(v)
        size += len(v) + len(delimiter)
    if size > STRING_CHARS_MAX:
        raise FeelError(f"string longer than {STRING_CHARS_MAX} characters")
    return delimiter.join(parts)


FUNCTIONS = [
    unwrapping(substring),
    unwrapping(string_length),
    unwrapping(upper_case),
    unwrapping(lower_case),
    unwrapping(substring_before),
    unwrapping(substring_after),
    unwrapping(contains),
    unwrapping(starts_with),
    unwrapping(ends_with),
    unwrapping(matches),
    unwrapping(replace),
    unwrapping(split),
    string_join,
]
