"""Name scopes and per-evaluation state (iteration budget, call depth, the clock if given)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .errors import FeelError
from .limits import CALL_DEPTH_MAX, ITERATIONS_MAX
from .values import MISSING, from_json


class State:
    """Counters shared by every scope of one evaluation."""

    __slots__ = ("iterations", "depth", "now", "missed")

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.iterations = 0
        self.depth = 0
        self.now = now
        #: some name was not found anywhere (see CompiledExpression: names with spaces/symbols)
        self.missed = False

    def tick(self, count: int = 1) -> None:
        self.iterations += count
        if self.iterations > ITERATIONS_MAX:
            raise FeelError(f"more than {ITERATIONS_MAX} loop iterations")

    def enter_call(self) -> None:
        self.depth += 1
        if self.depth > CALL_DEPTH_MAX:
            raise FeelError(f"function calls nested deeper than {CALL_DEPTH_MAX}")


class Scope:
    """A chain of name -> value maps. The root holds the caller's JSON values, converted lazily."""

    __slots__ = ("vars", "parent", "state", "raw", "cache")

    def __init__(
        self,
        vars: Mapping[str, Any],
        parent: Scope | None,
        state: State,
        raw: bool = False,
    ) -> None:
        self.vars = vars
        self.parent = parent
        self.state = state
        self.raw = raw
        self.cache: dict[str, Any] | None = {} if raw else None

    def lookup(self, name: str, note_miss: bool = True) -> Any:
        """The value bound to `name`, or MISSING (noted in the state unless told not to)."""
        s: Scope | None = self
        while s is not None:
            if s.raw:
                cache = s.cache
                if name in cache:  # type: ignore[operator]
                    return cache[name]  # type: ignore[index]
                v = s.vars.get(name, MISSING)
                if v is not MISSING:
                    v = from_json(v)
                    cache[name] = v  # type: ignore[index]
                    return v
            else:
                v = s.vars.get(name, MISSING)
                if v is not MISSING:
                    return v
            s = s.parent
        if note_miss:
            self.state.missed = True
        return MISSING

    def child(self, vars: Mapping[str, Any]) -> Scope:
        return Scope(vars, self, self.state)

    def names(self) -> list[str]:
        """Every name bound at any level (for reading names with symbols, see api.py)."""
        out: list[str] = []
        s: Scope | None = self
        while s is not None:
            out.extend(s.vars)
            s = s.parent
        return out
