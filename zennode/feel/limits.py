"""Every bound the FEEL sandbox enforces, in one place.

A FEEL expression comes from a deployed model, i.e. from a user: it must not be able to hang or
exhaust a partition. Exceeding a limit raises `FeelError` (the engine turns it into an incident).
"""

from __future__ import annotations

#: Longest expression text accepted by `compile`.
EXPRESSION_CHARS_MAX = 100_000
#: Deepest nesting of the parsed expression (parentheses, operators, calls).
PARSE_DEPTH_MAX = 60
#: Deepest chain of user-defined function calls (recursion through contexts).
CALL_DEPTH_MAX = 64
#: Iterations of all `for` / `some` / `every` / filter loops and user-function calls in one
#: evaluation (a `sort` with a comparison function counts each call).
ITERATIONS_MAX = 250_000
#: Items in one list built by an evaluation (for results, ranges expanded, append, ...).
LIST_ITEMS_MAX = 250_000
#: Distinct lists/contexts/times that `distinct values`/`union` compare pairwise.
PAIRWISE_ITEMS_MAX = 2_000
#: Characters in one string built by an evaluation.
STRING_CHARS_MAX = 10_000_000
#: Re-parsed readings of one compiled expression kept for variable names with symbols or
#: keywords (`order-id`, `is in stock`), one per set of such names.
VARIANTS_MAX = 8
#: Largest absolute exponent in `**` with a decimal result (keeps powers cheap).
POWER_EXPONENT_MAX = 10_000
