"""Decision tables: inputs, rules of unary tests, outputs, and the eleven hit policies.

Evaluation: every input expression once; each rule matches when all its input entries do
(`-` entries are skipped at compile time); the hit policy turns the matched rules' outputs
into the result. A table with one output gives that output's value, with several a context
per rule. No rule matched: the default output entries if any, else null (an empty list for
COLLECT, 0 for COLLECT COUNT). UNIQUE with several matches, ANY with differing outputs, an
input outside its input values and an output outside its output values are errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from zennode.feel import CompiledExpression, FeelError
from zennode.feel.builtins.lists import occurrences
from zennode.feel.numbers import CTX
from zennode.feel.scope import Scope, State
from zennode.feel.unary import UnaryTests
from zennode.feel.values import MISSING, compare, equal, to_string

from .boxed import Expr
from .run import Run
from .types import ANY, DmnType

HIT_POLICIES = {
    "UNIQUE": "UNIQUE",
    "U": "UNIQUE",
    "FIRST": "FIRST",
    "F": "FIRST",
    "PRIORITY": "PRIORITY",
    "P": "PRIORITY",
    "ANY": "ANY",
    "A": "ANY",
    "COLLECT": "COLLECT",
    "C": "COLLECT",
    "RULE ORDER": "RULE ORDER",
    "R": "RULE ORDER",
    "OUTPUT ORDER": "OUTPUT ORDER",
    "O": "OUTPUT ORDER",
}
AGGREGATIONS = {"SUM", "COUNT", "MIN", "MAX"}


@dataclass(slots=True)
class Input:
    id: str
    label: str
    expression: CompiledExpression
    values: UnaryTests | None = None
    #: Camunda 7's `camunda:inputVariable` (default `cellInput`): the input's name in entries
    variable: str | None = None


@dataclass(slots=True)
class Output:
    id: str
    name: str
    type: DmnType = ANY
    values: UnaryTests | None = None
    #: the output values one by one, for PRIORITY / OUTPUT ORDER (first = highest)
    priorities: list[UnaryTests] = field(default_factory=list)
    default: CompiledExpression | None = None


@dataclass(slots=True)
class Rule:
    id: str
    index: int  # 1-based, as users count rules
    #: (input index, tests) for every entry that is not `-`
    tests: list[tuple[int, UnaryTests]]
    outputs: list[CompiledExpression]


@dataclass(slots=True)
class MatchedRule:
    """A rule that matched, with its output values (for the evaluation trace)."""

    rule_id: str
    rule_index: int
    outputs: list[Any]


@dataclass(slots=True)
class TableTrace:
    inputs: list[Any] = field(default_factory=list)
    matched: list[MatchedRule] = field(default_factory=list)


class DecisionTable(Expr):
    kind = "DECISION_TABLE"

    def __init__(
        self,
        inputs: list[Input],
        outputs: list[Output],
        rules: list[Rule],
        hit_policy: str,
        aggregation: str | None,
        type_: DmnType = ANY,
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.rules = rules
        self.hit_policy = hit_policy
        self.aggregation = aggregation
        self.type = type_
        self._single = len(outputs) == 1
        self._all = (1 << len(rules)) - 1
        self._columns = [
            (c.index, c.free, c.eq, c.tests, inputs[c.index].variable)
            for c in _columns(len(inputs), rules)
        ]

    # ------------------------------------------------------------ evaluation
    def evaluate(self, run: Run, scope: Scope, trace: TableTrace | None = None) -> Any:
        value = self.value(run, scope, trace)
        if self.type is ANY:
            return value
        return self.type.coerce(value)

    def value(self, run: Run, scope: Scope, trace: TableTrace | None = None) -> Any:
        values = []
        for i, inp in enumerate(self.inputs):
            expr = inp.expression
            v = MISSING if expr.name is None else scope.lookup(expr.name, False)
            if v is MISSING:
                v = expr.run(scope)
            if inp.values is not None and v is not None:
                self._check_input(i, inp, v, scope)
            values.append(v)
        if trace is not None:
            trace.inputs = values
        matched = self._match(values, scope)
        if not matched:
            return self._no_match(scope)
        policy = self.hit_policy
        if policy == "UNIQUE" and len(matched) > 1:
            rules = ", ".join(str(r.index) for r in matched)
            raise FeelError(f"hit policy UNIQUE: rules {rules} all matched")
        hits = [MatchedRule(r.id, r.index, self._outputs(r, scope)) for r in matched]
        if policy == "ANY":
            first = hits[0].outputs
            for hit in hits[1:]:
                if not all(equal(a, b) is True for a, b in zip(first, hit.outputs, strict=True)):
                    rules = ", ".join(str(r.index) for r in matched)
                    raise FeelError(f"hit policy ANY: rules {rules} matched with different outputs")
        elif policy in ("PRIORITY", "OUTPUT ORDER"):
            hits = self._by_priority(hits)
            if policy == "PRIORITY":
                hits = hits[:1]
        if trace is not None:
            trace.matched = hits
        if policy in ("UNIQUE", "FIRST", "ANY", "PRIORITY"):
            return self._result(hits[0].outputs)
        rows = [h.outputs for h in hits]
        if policy == "COLLECT" and self.aggregation:
            return self._aggregate(rows)
        return [self._result(row) for row in rows]

    def _check_input(self, index: int, inp: Input, v: Any, scope: Scope) -> None:
        assert inp.values is not None
        if inp.values.matches(v, scope) is not True:
            raise FeelError(
                f"input {index + 1} ({inp.label}) is {_show(v)}, "
                f"not one of its input values {inp.values.source}"
            )

    def _match(self, values: list[Any], scope: Scope) -> list[Rule]:
        """The rules whose every input entry holds, in rule order.

        Column by column, narrowing a bit set of candidate rules: entries that are plain
        string or number literals are looked up in a per-column index (one dict lookup for
        all of them), the other entries are evaluated only for rules still in the running.
        """
        candidates = self._all
        for index, free, eq, tests, variable in self._columns:
            v = values[index]
            bits = free
            if eq:
                t = type(v)
                if t is str:
                    bits |= eq.get(("s", v), 0)
                elif t is Decimal:
                    bits |= eq.get(("n", v), 0)
            if tests:
                entry_scope = scope if variable is None else scope.child({variable: v})
                for bit, test in tests:
                    if candidates & bit and test(v, entry_scope) is True:
                        bits |= bit
            candidates &= bits
            if not candidates:
                return []
        out = []
        rules = self.rules
        while candidates:
            low = candidates & -candidates
            out.append(rules[low.bit_length() - 1])
            if self.hit_policy == "FIRST":
                break
            candidates ^= low
        return out

    def _outputs(self, rule: Rule, scope: Scope) -> list[Any]:
        row = []
        for out, expr in zip(self.outputs, rule.outputs, strict=True):
            c = expr.constant
            v = c[0] if c is not None else expr.run(scope)
            if out.values is not None and v is not None:
                if out.values.matches(v, scope) is not True:
                    raise FeelError(
                        f"rule {rule.index}: output {out.name or '1'} is {_show(v)}, "
                        f"not one of its output values {out.values.source}"
                    )
            row.append(v if out.type is ANY else out.type.coerce(v))
        return row

    def _result(self, row: list[Any]) -> Any:
        if self._single:
            return row[0]
        return {out.name: v for out, v in zip(self.outputs, row, strict=True)}

    def _no_match(self, scope: Scope) -> Any:
        if any(o.default is not None for o in self.outputs):
            row = [
                None if o.default is None else o.type.coerce(o.default.run(scope))
                for o in self.outputs
            ]
            return self._result(row)
        if self.hit_policy == "COLLECT":
            if self.aggregation == "COUNT":
                return Decimal(0)
            if self.aggregation:
                return None
            return []
        return None

    def _by_priority(self, hits: list[MatchedRule]) -> list[MatchedRule]:
        """Hits ordered by their outputs' positions in the output values (stable)."""
        ranked = [(n, o) for n, o in enumerate(self.outputs) if o.priorities]
        static = Scope({}, None, State())  # output values are literals: no names to see

        def key(hit: MatchedRule) -> tuple[int, ...]:
            ranks = []
            for n, out in ranked:
                v = hit.outputs[n]
                rank = len(out.priorities)
                for k, tests in enumerate(out.priorities):
                    if tests.matches(v, static) is True:
                        rank = k
                        break
                ranks.append(rank)
            return tuple(ranks)

        return sorted(hits, key=key)

    def _aggregate(self, rows: list[list[Any]]) -> Any:
        columns = list(zip(*rows, strict=True))
        results = [self._aggregate_one(list(col)) for col in columns]
        return self._result(results)

    def _aggregate_one(self, values: list[Any]) -> Any:
        agg = self.aggregation
        if agg == "COUNT":
            return Decimal(len(occurrences(values)))
        present = [v for v in values if v is not None]
        if not present:
            return None
        if agg == "SUM":
            total = Decimal(0)
            for v in present:
                if type(v) is not Decimal:
                    return None
                total = CTX.add(total, v)
            return total
        best = present[0]
        for v in present[1:]:
            c = compare(v, best)
            if c is None:
                return None
            if (agg == "MIN" and c < 0) or (agg == "MAX" and c > 0):
                best = v
        return best


@dataclass(slots=True)
class _Column:
    """One input's entries over all rules, as bit sets of rule positions."""

    index: int
    free: int = 0  # rules whose entry is `-`
    eq: dict[tuple[str, Any], int] = field(default_factory=dict)  # literal -> rules
    #: the other entries: (rule bit, test(value, scope) -> True / False / None)
    tests: list[tuple[int, Callable[[Any, Scope], bool | None]]] = field(default_factory=list)


def _columns(count: int, rules: list[Rule]) -> list[_Column]:
    columns = [_Column(i) for i in range(count)]
    for n, rule in enumerate(rules):
        bit = 1 << n
        tested = {i for i, _ in rule.tests}
        for i, tests in rule.tests:
            keys = [_key(v) for v in tests.equals] if tests.equals is not None else [None]
            if all(k is not None for k in keys):
                for k in keys:
                    columns[i].eq[k] = columns[i].eq.get(k, 0) | bit  # type: ignore[index]
            else:
                columns[i].tests.append((bit, tests.predicate() or tests.matches))
        for col in columns:
            if col.index not in tested:
                col.free |= bit
    # indexed columns first: they narrow the candidates for one lookup each; a column of
    # `-` only narrows nothing
    everyone = (1 << len(rules)) - 1
    used = [c for c in columns if c.free != everyone]
    return sorted(used, key=lambda c: (len(c.tests), c.index))


def _key(v: Any) -> tuple[str, Any] | None:
    """A hash key that agrees with FEEL equality (strings with strings, numbers with
    numbers; Python would let `True == 1`)."""
    t = type(v)
    if t is str:
        return ("s", v)
    if t is Decimal:
        return ("n", v)
    return None


def _show(v: Any) -> str:
    try:
        return to_string(v) if not isinstance(v, str) else f'"{v}"'
    except Exception:  # noqa: BLE001 - only for a message
        return repr(v)
