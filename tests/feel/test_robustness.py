"""Mangled expressions must fail cleanly: FeelError only, and never an internal error."""

from __future__ import annotations

import random

from zennode import feel

SEEDS = [
    'amount > 100 and status = "open"',
    "{total: sum(items.price), first: items[1].name}",
    "for i in 1..3, j in [1, 2] return i * j",
    "some x in [1, 2] satisfies x > 1",
    'if date("2024-01-01") < today() then "past" else "future"',
    "x in [1..10) and y between 1 and 5",
    'substring(string: "foobar", start position: 2)',
    "{f: function(a: number) a + 1, r: f(2)}.r",
    '@"2024-01-01T10:00:00@Europe/Paris" + @"P1M" - @"PT1H"',
    'matches("abc", "^a(b|c)+$", "i")',
    "[{a: 1}, {a: 2}][a > 1].a",
    'range("[1..5)") instance of range<number>',
    "before([1..2], 3) and overlaps([1..5], [2..8])",
    'string join(for s in ["a", "b"] return upper case(s), ", ")',
]
PIECES = ["(", ")", "[", "]", "{", "}", "..", '"', '@"', "-", ",", ".", "?", " in ", " and ", "x"]
VALUES = [None, 1, -2.5, "x", True, [1, 2], {"a": 1}, [], {}]


def test_mutations_fail_cleanly() -> None:
    rng = random.Random(20240601)
    internal = []
    for seed in SEEDS:
        for _ in range(60):
            i, j = sorted((rng.randrange(len(seed) + 1), rng.randrange(len(seed) + 1)))
            text = (
                seed[:i] + seed[j:]
                if rng.random() < 0.5
                else seed[:i] + rng.choice(PIECES) + seed[i:]
            )
            variables = {
                name: rng.choice(VALUES) for name in ("amount", "status", "items", "x", "y")
            }
            try:
                feel.compile(text).evaluate(variables, now=None)
            except feel.FeelError as exc:
                if exc.message.startswith("cannot evaluate"):
                    internal.append((text, exc.message))
    assert internal == []
