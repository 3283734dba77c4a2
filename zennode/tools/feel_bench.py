"""Evaluations per second of compiled FEEL expressions: `python -m zennode.tools.feel_bench`.

The numbers in docs/feel.md come from this module, so they can be re-measured on any machine.
"""

from __future__ import annotations

import time
import timeit
from typing import Any

from zennode.feel.api import compile

CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "condition",
        'amount > 100 and status = "open"',
        {"amount": 150, "status": "open"},
    ),
    (
        "mapping",
        "{total: sum(items.price), first: items[1].name}",
        {
            "items": [
                {"price": 10, "name": "a"},
                {"price": 20.5, "name": "b"},
                {"price": 3, "name": "c"},
            ]
        },
    ),
    (
        "filter + count",
        'count(orders[status = "open" and amount > 100]) > 0',
        {"orders": [{"status": "open", "amount": i * 10} for i in range(20)]},
    ),
]


def measure(expression: str, variables: dict[str, Any], repeat: int = 7) -> dict[str, float]:
    """Evaluations and compilations per second: the best of `repeat` timed batches, so that
    other load on a shared machine shows up as little as possible."""
    compiled = compile(expression)
    compiled.evaluate(variables)
    rates = {}
    for name, fn in (
        ("evaluations_per_s", lambda: compiled.evaluate(variables)),
        ("compiles_per_s", lambda: compile(expression)),
    ):
        batch = _batch_size(fn)
        best = min(timeit.repeat(fn, number=batch, repeat=repeat))
        rates[name] = batch / best
    return rates


def _batch_size(fn: Any) -> int:
    """About 0.05 s of calls per batch."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(10, min(100_000, int(0.05 / once)))


def main() -> None:
    for label, expression, variables in CASES:
        r = measure(expression, variables)
        print(
            f"{label:15} {r['evaluations_per_s']:>10,.0f} evals/s "
            f"{r['compiles_per_s']:>9,.0f} compiles/s  {expression}"
        )


if __name__ == "__main__":
    main()
