"""The state of one evaluation: FEEL budget, results so far, the trace of decisions evaluated.

One `Run` covers a whole `evaluate` call, including every business knowledge model and decision
service it invokes: they share one FEEL `State`, so the sandbox's iteration and call-depth
bounds hold for the evaluation as a whole, not per expression.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from zennode.feel.scope import Scope, State


class Run:
    __slots__ = (
        "state",
        "now",
        "variables",
        "root",
        "results",
        "active",
        "functions",
        "trace",
        "given_decisions",
    )

    def __init__(
        self,
        variables: Mapping[str, Any],
        now: dt.datetime | None = None,
        given_decisions: bool = False,
        state: State | None = None,
    ) -> None:
        self.state = state if state is not None else State(now)
        self.now = now
        self.variables = variables
        #: the caller's variables (JSON or FEEL values, converted on first use)
        self.root = Scope(variables, None, self.state, raw=True)
        #: (import path, element id) -> value of the decisions evaluated so far
        self.results: dict[tuple[tuple[str, ...], str], Any] = {}
        #: decisions being evaluated (a cycle through a decision service is an error)
        self.active: set[tuple[tuple[str, ...], str]] = set()
        #: business knowledge models and decision services as FEEL functions, made once
        self.functions: dict[tuple[tuple[str, ...], str], Any] = {}
        #: EvaluatedDecision records, in evaluation order
        self.trace: list[Any] = []
        #: values given for decisions in `variables` are used instead of evaluating them
        #: (the TCK's convention for intermediate results)
        self.given_decisions = given_decisions

    def nested(self, variables: Mapping[str, Any]) -> Run:
        """A run for a decision service invocation: own inputs and results, same budget."""
        run = Run(variables, self.now, False, self.state)
        run.trace = self.trace
        return run
