"""DMN unary tests (decision table input entries, allowed values): compiled to predicates.

`compile_unary_tests('"a", "b"')` -> `UnaryTests`; `tests.matches(value, scope)` is True, False
or None (null: a test could not be decided). `-` matches anything; `not(t1, t2)` negates.
Each test is a comparison (`< 10`), a range, a list, a value (equality) or, when it uses `?`,
a boolean expression about the input. Tests on literals become plain Python predicates: a
20-rule table runs its tests without building a FEEL scope per cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from . import ast as A
from .api import _needs_known
from .compiler import _unary_test, compile_node, matches
from .errors import FeelError
from .parser import Parser
from .scope import Scope, State
from .values import Range, compare, equal, in_range

Test = Callable[[Any, Scope], "bool | None"]

_EMPTY_STATE = State()


class UnaryTests:
    """One compiled input entry; shareable between threads (no state of its own)."""

    __slots__ = ("source", "any", "negated", "_tests", "uses", "equals")

    def __init__(
        self,
        source: str,
        negated: bool,
        tests: list[Test] | None,
        uses: bool,
        equals: tuple[Any, ...] | None = None,
    ) -> None:
        self.source = source
        #: `-`: every value matches, the entry need not be evaluated at all
        self.any = tests is None
        self.negated = negated
        self._tests = tests or []
        #: some test reads a name (other than `?`) or calls a function: needs a real scope
        self.uses = uses
        #: `"a", "b"`, `10`: the literals the value must equal (a table can index rules by
        #: them); None when any test is something else
        self.equals = equals

    def matches(self, value: Any, scope: Scope) -> bool | None:
        if self.any:
            return True
        seen_null = False
        result: bool | None = False
        for test in self._tests:
            r = test(value, scope)
            if r is True:
                result = True
                break
            if r is None:
                seen_null = True
        else:
            result = None if seen_null else False
        if self.negated:
            return None if result is None else not result
        return result

    def parts(self) -> list[UnaryTests]:
        """One `UnaryTests` per test (`"high", "medium", "low"` -> three): DMN's output values
        give priorities in this order."""
        if self.any or self.negated:
            return [self]
        return [UnaryTests(self.source, False, [t], self.uses) for t in self._tests]

    def predicate(self) -> Test | None:
        """The single test as a plain function, when there is exactly one and no `not`."""
        if self.any or self.negated or len(self._tests) != 1:
            return None
        return self._tests[0]

    def __repr__(self) -> str:
        return f"UnaryTests({self.source!r})"


def compile_unary_tests(text: str, known_names: Iterable[str] = ()) -> UnaryTests:
    """Parse an input entry / allowed values text; FeelError (with a caret) on bad syntax."""
    if not isinstance(text, str):
        raise FeelError("unary tests must be a string", 0)
    source = text.strip()
    if not source:
        return UnaryTests(text, False, None, False)
    known = frozenset(n for n in known_names if n in source and _needs_known(n))
    try:
        negated, nodes = Parser(source, known).unary_tests()
        if nodes is None:
            return UnaryTests(text, False, None, False)
        tests = [_fast(n) or _unary_test(n) for n in nodes]
    except FeelError as exc:
        raise exc.with_source(source) from None
    except RecursionError:
        raise FeelError("unary tests nested too deeply", 0) from None
    uses = not all(_literal(n.operand) for n in nodes)
    equals = None
    if not negated and all(_equality(n) for n in nodes):
        equals = tuple(n.operand.value for n in nodes)  # type: ignore[attr-defined]
    return UnaryTests(source, negated, tests, uses, equals)


def _equality(test: A.UnaryTest) -> bool:
    """`"a"`, `10`, `= 5`: equality with a string or number literal (a boolean literal also
    matches a non-boolean input that it is true for, so it is not a plain equality)."""
    node = test.operand
    return (
        test.op in ("", "=")
        and not test.uses_input
        and isinstance(node, A.Literal)
        and type(node.value) in (str, Decimal)
    )


def _literal(node: A.Node) -> bool:
    if isinstance(node, A.Literal):
        return True
    if isinstance(node, A.RangeNode):
        return all(e is None or _literal(e) for e in (node.start, node.end))
    if isinstance(node, A.ListNode):
        return all(_literal(i) for i in node.items)
    return False


def _constant(node: A.Node) -> Any:
    return compile_node(node)(Scope({}, None, _EMPTY_STATE))


def _fast(test: A.UnaryTest) -> Test | None:
    """A predicate that needs no scope, for tests whose operand is a literal."""
    node = test.operand
    if test.uses_input or not _literal(node):
        return None
    try:
        target = _constant(node)
    except FeelError:
        return None
    op = test.op
    if op in ("<", "<=", ">", ">="):
        return _ordered(op, target)
    if op == "!=":

        def differs(v: Any, scope: Scope) -> bool | None:
            r = equal(v, target)
            return None if r is None else not r

        return differs
    if op == "=" or (op == "" and not isinstance(target, (Range, list, bool))):
        if type(target) is Decimal:

            def same_number(v: Any, scope: Scope) -> bool | None:
                if type(v) is Decimal:
                    return v == target
                return equal(v, target)

            return same_number
        if type(target) is str:

            def same_string(v: Any, scope: Scope) -> bool | None:
                if type(v) is str:
                    return v == target
                return equal(v, target)

            return same_string
        return lambda v, scope: equal(v, target)
    if isinstance(target, Range):
        return _in_range(target)
    if isinstance(target, bool):

        def flag(v: Any, scope: Scope) -> bool | None:
            if type(v) is bool:
                return v is target
            return matches(v, target)

        return flag
    return lambda v, scope: matches(v, target)


def _in_range(r: Range) -> Test:
    """A range with number endpoints (`[100..500)`, the usual table cell) compares numbers
    directly; anything else goes through FEEL's ordering."""
    lo, hi = r.start, r.end
    if (lo is None or type(lo) is Decimal) and (hi is None or type(hi) is Decimal) and not r.single:
        lo_in, hi_in = r.start_included, r.end_included

        def numbers(v: Any, scope: Scope) -> bool | None:
            if type(v) is not Decimal:
                return in_range(v, r)
            if lo is not None and (v < lo or (v == lo and not lo_in)):
                return False
            if hi is not None and (v > hi or (v == hi and not hi_in)):
                return False
            return True

        return numbers
    return lambda v, scope: in_range(v, r)


def _ordered(op: str, target: Any) -> Test:
    if type(target) is Decimal:
        if op == "<":
            return lambda v, s: v < target if type(v) is Decimal else _cmp(v, target, op)
        if op == "<=":
            return lambda v, s: v <= target if type(v) is Decimal else _cmp(v, target, op)
        if op == ">":
            return lambda v, s: v > target if type(v) is Decimal else _cmp(v, target, op)
        return lambda v, s: v >= target if type(v) is Decimal else _cmp(v, target, op)
    return lambda v, s: _cmp(v, target, op)


def _cmp(v: Any, target: Any, op: str) -> bool | None:
    c = compare(v, target)
    if c is None:
        return None
    if op == "<":
        return c < 0
    if op == "<=":
        return c <= 0
    if op == ">":
        return c > 0
    return c >= 0
