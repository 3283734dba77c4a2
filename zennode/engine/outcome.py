"""What applying one command produced: the API's answer and the events for listeners."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zennode.errors import ZennodeError


@dataclass(slots=True)
class Outcome:
    """The result of `Engine.apply` for one command.

    Exactly one of `result` / `error` is meaningful: a command with an error changed nothing.
    `events` are handed to in-memory listeners (job manager, handler runner, metrics) by the
    partition leader after the batch commits; they are never stored.
    """

    result: dict[str, Any] | None = None
    error: ZennodeError | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> dict[str, Any]:
        """The result, or raise the command's error (what API callers want)."""
        if self.error is not None:
            raise self.error
        return self.result or {}
