"""The one place where the engine meets FEEL.

BPMN values are FEEL when they start with `=`, literal strings otherwise. Expressions are
compiled once at deploy (a syntax error rejects the deployment) and evaluated against JSON
variables; an evaluation problem becomes an `ExpressionFailed` that the engine turns into an
incident, never an exception out of `Engine.apply`.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import Any

from zennode import feel
from zennode.engine.model import Expr
from zennode.errors import BadRequest

# The command's timestamp as FEEL's `now()`: set by Engine.apply, per thread, never a clock.
_NOW_MS: ContextVar[int | None] = ContextVar("zennode_engine_now_ms", default=None)


def set_command_time(now_ms: int) -> Token[int | None]:
    return _NOW_MS.set(now_ms)


def reset_command_time(token: Token[int | None]) -> None:
    _NOW_MS.reset(token)


@lru_cache(maxsize=4)
def _instant(now_ms: int | None) -> dt.datetime | None:
    return None if now_ms is None else dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)


class ExpressionFailed(Exception):
    """An expression could not be evaluated, or its result has the wrong type or no JSON form."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def compile_value(text: str, where: str) -> Expr:
    """`=expr` -> compiled FEEL, anything else -> a literal; `where` names it in the error."""
    if text.startswith("="):
        return Expr(text, compile_feel(text[1:], where))
    return Expr(text, None)


def compile_feel(source: str, where: str) -> Any:
    try:
        return feel.compile(source)
    except feel.FeelError as exc:
        raise BadRequest(f"invalid FEEL expression in {where}: {exc}") from None
    except RecursionError:
        raise BadRequest(f"FEEL expression in {where} is nested too deeply") from None


def evaluate(expr: Expr, variables: dict[str, Any]) -> Any:
    """The JSON value of `expr` (a literal is returned as it is)."""
    if expr.compiled is None:
        return expr.source
    try:
        return feel.to_json(expr.compiled.evaluate(variables, now=_instant(_NOW_MS.get())))
    except feel.FeelError as exc:
        raise ExpressionFailed(f"failed to evaluate '{expr.source}': {exc}") from None
    except (RecursionError, MemoryError):
        raise ExpressionFailed(f"failed to evaluate '{expr.source}': too deep or too big") from None
    except Exception as exc:  # noqa: BLE001 - a FEEL bug must become an incident, not a crash
        raise ExpressionFailed(
            f"failed to evaluate '{expr.source}': {type(exc).__name__}: {exc}"
        ) from None


def evaluate_condition(expr: Expr, variables: dict[str, Any]) -> bool:
    """FEEL null semantics: null is false; any other non-boolean is an error."""
    value = evaluate(expr, variables)
    if value is None or value is False:
        return False
    if value is True:
        return True
    raise ExpressionFailed(
        f"expected a boolean from condition '{expr.source}' but got {type(value).__name__}"
    )


NAME_BYTES_MAX = 255  # names that end up in table keys (LMDB keys are at most 511 bytes)


def name_problem(value: str, what: str) -> str | None:
    """Why `value` cannot be used as a name inside a table key, or None when it can."""
    if not value:
        return f"{what} is empty"
    if "\0" in value:
        return f"{what} contains a NUL character"
    if len(value.encode("utf-8", errors="replace")) > NAME_BYTES_MAX:
        return f"{what} is longer than {NAME_BYTES_MAX} bytes"
    return None


def evaluate_string(expr: Expr, variables: dict[str, Any], what: str) -> str:
    """A string usable as a name in table keys (job types): non-empty, no NUL, bounded."""
    value = evaluate(expr, variables)
    if not isinstance(value, str):
        raise ExpressionFailed(f"expected a string as {what} from '{expr.source}'")
    problem = name_problem(value, what)
    if problem:
        raise ExpressionFailed(f"{problem} (from '{expr.source}')")
    return value


def evaluate_int(expr: Expr, variables: dict[str, Any], what: str) -> int:
    value = evaluate(expr, variables)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ExpressionFailed(f"expected a number as {what}, got '{value}'") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionFailed(f"expected a number as {what} from '{expr.source}'")
    return int(value)
