"""The one exception FEEL raises: a syntax error at compile time or a hard limit at run time.

Semantic problems during evaluation (wrong types, missing values) follow the FEEL spec and give
null instead; the engine treats a null condition as false. `position` is a 0-based offset into
the expression so callers (incidents, API errors) can point at the culprit.
"""

from __future__ import annotations


class FeelError(Exception):
    """A FEEL expression that cannot be compiled or evaluated."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.message = message
        self.position = position
        #: the expression `position` points into, once known (see `with_source`)
        self.source: str | None = None
        text = message if position is None else f"{message} (at position {position})"
        super().__init__(text)

    def with_source(self, source: str) -> FeelError:
        """Return a copy whose message shows the expression with a caret under `position`.

        An error that already names its expression keeps it: it was raised inside a function
        defined elsewhere (a DMN business knowledge model) and the caret belongs there.
        """
        if self.position is None or self.source is not None:
            return self
        pos = max(0, min(self.position, len(source)))
        line = source.replace("\n", " ")
        err = type(self).__new__(type(self))
        err.__dict__.update(self.__dict__)
        Exception.__init__(err, f"{self.message}\n  {line}\n  {' ' * pos}^")
        err.source = source
        return err
