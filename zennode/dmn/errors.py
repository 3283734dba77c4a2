"""The error a decision evaluation raises: a FEEL error that names the decision.

Inside an expression FEEL gives null for most problems (wrong types, missing values); what
stops an evaluation is what the DMN spec calls an error: a hit policy violated, a value outside
an input's or output's values, a FEEL limit hit, an unknown function. The caller (the engine's
business rule task) turns it into an incident naming `decision_id`.
"""

from __future__ import annotations

from typing import Any

from zennode.feel import FeelError


class DecisionError(FeelError):
    """A decision could not be evaluated; `decision_id` is the one that failed."""

    def __init__(self, message: str, decision_id: str, decision_name: str = "") -> None:
        super().__init__(message)
        self.decision_id = decision_id
        self.decision_name = decision_name or decision_id
        #: the decisions evaluated before the failure (EvaluatedDecision records)
        self.evaluated: list[Any] = []
