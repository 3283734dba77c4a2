"""Tokenizer: FEEL text -> tokens (kind, text/value, position).

Words are plain NAME tokens, keywords included: FEEL names may contain spaces and some
keywords (`date and time`), so the parser decides which words form one name.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FeelError
from .limits import EXPRESSION_CHARS_MAX

NUM, STR, NAME, OP, AT, EOF = "num", "str", "name", "op", "at", "eof"

_OPS3 = ("...",)
_OPS2 = ("..", "**", "<=", ">=", "!=", "->")
_OPS1 = "=<>+-*/()[]{},:.?"

_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: str
    pos: int
    end: int
    #: whitespace (or a comment) precedes this token
    spaced: bool = False


def name_start(c: str) -> bool:
    return c.isalpha() or c in "_?$" or ord(c) > 0x7F and not c.isspace()


def name_part(c: str) -> bool:
    return name_start(c) or c.isdigit() or c == "'"


def tokenize(text: str) -> list[Token]:
    if len(text) > EXPRESSION_CHARS_MAX:
        raise FeelError(f"expression longer than {EXPRESSION_CHARS_MAX} characters", 0)
    tokens: list[Token] = []
    i, n = 0, len(text)
    spaced = False
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            spaced = True
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            spaced = True
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise FeelError("unterminated comment", i)
            i = j + 2
            spaced = True
            continue
        start = i
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            while i < n and text[i].isdigit():
                i += 1
            if i + 1 < n and text[i] == "." and text[i + 1].isdigit():
                i += 1
                while i < n and text[i].isdigit():
                    i += 1
            elif i < n and text[i] == "." and (i + 1 >= n or text[i + 1] != "."):
                i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isdigit():
                    i = j
                    while i < n and text[i].isdigit():
                        i += 1
            tokens.append(Token(NUM, text[start:i], start, i, spaced))
        elif c == '"':
            value, i = _string(text, i)
            tokens.append(Token(STR, value, start, i, spaced))
        elif c == "@" and i + 1 < n and text[i + 1] == '"':
            value, i = _string(text, i + 1)
            tokens.append(Token(AT, value, start, i, spaced))
        elif c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise FeelError("unterminated `name`", i)
            tokens.append(Token(NAME, text[i + 1 : j], start, j + 1, spaced))
            i = j + 1
        elif name_start(c):
            while i < n and name_part(text[i]):
                i += 1
            tokens.append(Token(NAME, text[start:i], start, i, spaced))
        else:
            for op in (*_OPS2,):
                if text.startswith(op, i):
                    tokens.append(Token(OP, op, start, i + len(op), spaced))
                    i += len(op)
                    break
            else:
                if c in _OPS1:
                    tokens.append(Token(OP, c, start, i + 1, spaced))
                    i += 1
                else:
                    raise FeelError(f"unexpected character {c!r}", i)
        spaced = False
    tokens.append(Token(EOF, "", n, n, spaced))
    return tokens


def _string(text: str, i: int) -> tuple[str, int]:
    """Read a string literal starting at the quote at `i`; return (value, index after it)."""
    out: list[str] = []
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if c == '"':
            return _join_surrogates("".join(out)), j + 1
        if c == "\\" and j + 1 < n:
            e = text[j + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                j += 2
                continue
            if e == "u" and j + 6 <= n and _is_hex(text[j + 2 : j + 6]):
                out.append(chr(int(text[j + 2 : j + 6], 16)))
                j += 6
                continue
            if e == "U":
                for width in (8, 6):
                    digits = text[j + 2 : j + 2 + width]
                    if len(digits) == width and _is_hex(digits) and int(digits, 16) <= 0x10FFFF:
                        out.append(chr(int(digits, 16)))
                        j += 2 + width
                        break
                else:
                    out.append("\\U")
                    j += 2
                continue
            out.append("\\" + e)  # unknown escape: keep it (regex patterns use \d, \s, \1)
            j += 2
            continue
        out.append(c)
        j += 1
    raise FeelError("unterminated string", i)


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in s)


def _join_surrogates(s: str) -> str:
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return s
    # pair up \\uD83D\\uDC0E escapes; a lone surrogate becomes U+FFFD
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
