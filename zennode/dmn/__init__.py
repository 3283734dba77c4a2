"""DMN 1.1-1.5 decisions for zennode: pure, deterministic, compiled once per definition.

    from zennode import dmn
    defs = dmn.parse_dmn(xml_bytes)                     # BadRequest names the element at fault
    result = dmn.evaluate(defs, "discount", {"customer": "gold", "amount": 1200})
    result.output                                       # FEEL value (Decimal, str, dict, ...)
    result.to_json()                                    # {"decisionId", "output",
                                                        #  "evaluatedDecisions": [...]}

Decision tables (all hit policies), literal expressions, contexts, lists, relations, function
definitions, invocations, conditionals, iterators, filters, business knowledge models,
decision services, imports and item definitions. A failing decision raises `DecisionError`
(a `FeelError`) naming the decision. See docs/dmn.md.
"""

from __future__ import annotations

from .errors import DecisionError
from .evaluate import (
    DecisionResult,
    EvaluatedDecision,
    ServiceResult,
    evaluate,
    evaluate_service,
)
from .model import DecisionDefinitions
from .parser import parse_dmn

__all__ = [
    "DecisionDefinitions",
    "DecisionError",
    "DecisionResult",
    "EvaluatedDecision",
    "ServiceResult",
    "evaluate",
    "evaluate_service",
    "parse_dmn",
]
