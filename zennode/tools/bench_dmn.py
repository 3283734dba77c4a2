"""DMN evaluation speed, in process: `scripts/bench dmn`.

The model is the one issue 18 names: a 20-rule, 3-input decision table with hit policy UNIQUE,
as Camunda Modeler writes it (DMN 1.3, no input data: the inputs are the caller's variables).
Inputs cycle through sets that hit different rules. Each rate is the best of `rounds` timed
batches, so other load on a shared machine shows up as little as possible.
"""

from __future__ import annotations

import time
from typing import Any

from zennode import dmn

CATEGORIES = ("standard", "silver", "gold", "platinum", "vip")
AMOUNTS = ("&lt; 100", "[100..500)", "[500..1000)", "&gt;= 1000")


def table_model() -> bytes:
    """20 rules: category (string literals) x amount (ranges); member (boolean) is `-` or a
    test, so every input is read and one rule matches."""
    rules = []
    n = 0
    for category in CATEGORIES:
        for amount in AMOUNTS:
            n += 1
            member = "true" if n % 4 == 0 else "-"
            rules.append(
                f'<rule id="rule{n}"><inputEntry><text>"{category}"</text></inputEntry>'
                f"<inputEntry><text>{amount}</text></inputEntry>"
                f"<inputEntry><text>{member}</text></inputEntry>"
                f"<outputEntry><text>{n / 100}</text></outputEntry></rule>"
            )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="bench" '
        'name="bench" namespace="http://zennode/bench">'
        '<decision id="discount" name="Discount"><decisionTable id="table" hitPolicy="UNIQUE">'
        '<input id="category" label="Category"><inputExpression typeRef="string">'
        "<text>category</text></inputExpression></input>"
        '<input id="amount" label="Amount"><inputExpression typeRef="number">'
        "<text>amount</text></inputExpression></input>"
        '<input id="member" label="Member"><inputExpression typeRef="boolean">'
        "<text>member</text></inputExpression></input>"
        '<output id="rate" name="rate" typeRef="number"/>'
        f"{''.join(rules)}</decisionTable></decision></definitions>"
    ).encode()


INPUTS: list[dict[str, Any]] = [
    {"category": c, "amount": a, "member": True} for c in CATEGORIES for a in (50, 250, 750, 5000)
]


def _rate(fn: Any, batch: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(batch):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return batch / best


def run(rounds: int = 7, batch: int = 20_000) -> dict[str, Any]:
    """Evaluations per second (with and without the JSON result) and parse time."""
    data = table_model()
    defs = dmn.parse_dmn(data)
    inputs = INPUTS
    count = len(inputs)
    for v in inputs:  # every input set matches exactly one rule
        assert dmn.evaluate(defs, "discount", v).output is not None

    def evaluate(i: int) -> Any:
        return dmn.evaluate(defs, "discount", inputs[i % count])

    def evaluate_json(i: int) -> Any:
        return dmn.evaluate(defs, "discount", inputs[i % count]).to_json()

    parse_batch = max(1, batch // 200)
    parses = _rate(lambda i: dmn.parse_dmn(data), parse_batch, rounds)
    return {
        "benchmark": "dmn",
        "rules": 20,
        "inputs": 3,
        "hit_policy": "UNIQUE",
        "evaluations_per_second": _rate(evaluate, batch, rounds),
        "evaluations_with_json_per_second": _rate(evaluate_json, batch, rounds),
        "microseconds_per_evaluation": 1e6 / _rate(evaluate, batch, rounds),
        "parse_ms": 1000 / parses,
    }
