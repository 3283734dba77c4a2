"""FEEL (Friendly Enough Expression Language, DMN 1.5) for zennode: pure, sandboxed, fast.

    from zennode import feel
    c = feel.compile('amount > 100 and status = "open"')
    c.evaluate({"amount": 150, "status": "open"})   # -> True

Values: numbers are `decimal.Decimal` (34 digits), contexts are dicts, dates/times are
`datetime` objects or the classes in `temporal`. `from_json` / `to_json` convert at the edges.
"""

from __future__ import annotations

from .api import CompiledExpression, compile, evaluate
from .errors import FeelError
from .values import from_json, to_json

__all__ = ["CompiledExpression", "FeelError", "compile", "evaluate", "from_json", "to_json"]
