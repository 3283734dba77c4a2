"""AST -> Python closures `fn(scope) -> value`: parse once, evaluate many times, fast.

Semantics follow DMN 1.5 FEEL: errors in operands give null, `and`/`or` are three-valued,
filters take an index (number) or a boolean predicate, paths map over lists.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import ast as A
from . import java
from . import types as T
from .builtins import BUILTINS
from .errors import FeelError
from .functions import bind
from .iteration import iteration_values
from .limits import LIST_ITEMS_MAX
from .numbers import is_integer
from .ops import BINARY, neg
from .properties import get_member
from .scope import Scope
from .temporal import (
    DayTime,
    FeelTime,
    YearsMonths,
)
from .values import MISSING, NULL_END, Function, Range, compare, equal, in_range

Evaluator = Callable[[Scope], Any]


def compile_node(node: A.Node) -> Evaluator:
    method = _COMPILERS.get(type(node))
    if method is None:  # pragma: no cover - every node type has a compiler
        raise FeelError(f"cannot compile {type(node).__name__}", node.pos)
    return method(node)


# ---------------------------------------------------------------- leaves


def _literal(node: A.Literal) -> Evaluator:
    value = node.value
    return lambda scope: value


def _name(node: A.Name) -> Evaluator:
    name = node.name
    fallback = BUILTINS.get(name)

    def run(scope: Scope) -> Any:
        v = scope.lookup(name)
        if v is MISSING:
            return fallback
        return v

    return run


# ---------------------------------------------------------------- operators


def _binary(node: A.Binary) -> Evaluator:
    left, right = compile_node(node.left), compile_node(node.right)
    op = node.op
    if op == "and":

        def run_and(scope: Scope) -> Any:
            a = left(scope)
            if a is False:
                return False
            b = right(scope)
            if b is False:
                return False
            if a is True and b is True:
                return True
            return None

        return run_and
    if op == "or":

        def run_or(scope: Scope) -> Any:
            a = left(scope)
            if a is True:
                return True
            b = right(scope)
            if b is True:
                return True
            if a is False and b is False:
                return False
            return None

        return run_or
    if op == "=":
        return lambda scope: equal(left(scope), right(scope))
    if op == "!=":

        def run_ne(scope: Scope) -> Any:
            r = equal(left(scope), right(scope))
            return None if r is None else not r

        return run_ne
    if op in ("<", "<=", ">", ">="):
        test = _ORDER[op]

        def run_cmp(scope: Scope) -> Any:
            a, b = left(scope), right(scope)
            if type(a) is Decimal and type(b) is Decimal:
                return test(a, b)
            c = compare(a, b)
            if c is None:
                return None
            return test(c, 0)

        return run_cmp
    fn = BINARY[op]
    return lambda scope: fn(left(scope), right(scope))


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _unary(node: A.Unary) -> Evaluator:
    operand = compile_node(node.operand)
    if node.op == "-":
        return lambda scope: neg(operand(scope))

    def run_not(scope: Scope) -> Any:
        v = operand(scope)
        return (not v) if isinstance(v, bool) else None

    return run_not


def _between(node: A.Between) -> Evaluator:
    value, low, high = compile_node(node.value), compile_node(node.low), compile_node(node.high)

    def run(scope: Scope) -> Any:
        v, lo, hi = value(scope), low(scope), high(scope)
        c1, c2 = compare(v, lo), compare(v, hi)
        if c1 is None or c2 is None:
            if (c1 is not None and c1 < 0) or (c2 is not None and c2 > 0):
                return False
            return None
        return c1 >= 0 and c2 <= 0

    return run


def _instance_of(node: A.InstanceOf) -> Evaluator:
    value = compile_node(node.value)
    t = node.type
    return lambda scope: T.is_instance(value(scope), t)


# ---------------------------------------------------------------- unary tests / in


def _unary_test(test: A.UnaryTest) -> Callable[[Any, Scope], bool | None]:
    operand = compile_node(test.operand)
    op = test.op
    if op == "=":
        return lambda v, scope: equal(v, operand(scope))
    if op == "!=":

        def ne(v: Any, scope: Scope) -> bool | None:
            r = equal(v, operand(scope))
            return None if r is None else not r

        return ne
    if op:
        check = {
            "<": lambda c: c < 0,
            "<=": lambda c: c <= 0,
            ">": lambda c: c > 0,
            ">=": lambda c: c >= 0,
        }[op]

        def cmp(v: Any, scope: Scope) -> bool | None:
            c = compare(v, operand(scope))
            return None if c is None else check(c)

        return cmp
    if test.uses_input:

        def with_input(v: Any, scope: Scope) -> bool | None:
            r = operand(scope.child({"?": v}))
            return r if isinstance(r, bool) else None

        return with_input

    def plain(v: Any, scope: Scope) -> bool | None:
        return matches(v, operand(scope.child({"?": v})))

    return plain


def matches(v: Any, target: Any) -> bool | None:
    """`v in target` for a plain expression target: range, list (membership) or equality."""
    if isinstance(target, Range):
        return in_range(v, target)
    if isinstance(target, list):
        if isinstance(v, list) and equal(v, target) is True:
            return True
        for item in target:
            if isinstance(item, Range):
                if in_range(v, item) is True:
                    return True
            elif equal(v, item) is True:
                return True
        return False
    if isinstance(target, bool) and not isinstance(v, bool):
        return target
    return equal(v, target)


def _in(node: A.In) -> Evaluator:
    value = compile_node(node.value)
    tests = [_unary_test(t) for t in node.tests]
    if len(tests) == 1:
        only = tests[0]
        return lambda scope: only(value(scope), scope)

    def run(scope: Scope) -> Any:
        v = value(scope)
        seen_null = False
        for t in tests:
            r = t(v, scope)
            if r is True:
                return True
            if r is None:
                seen_null = True
        return None if seen_null else False

    return run


# ---------------------------------------------------------------- structures


def _list(node: A.ListNode) -> Evaluator:
    items = [compile_node(i) for i in node.items]
    return lambda scope: [f(scope) for f in items]


def _context(node: A.ContextNode) -> Evaluator:
    entries = [(k, compile_node(v)) for k, v in node.entries]

    def run(scope: Scope) -> Any:
        ctx: dict[str, Any] = {}
        inner = scope.child(ctx)
        for key, f in entries:
            ctx[key] = f(inner)
        return ctx

    return run


def _range(node: A.RangeNode) -> Evaluator:
    start = compile_node(node.start) if node.start is not None else None
    end = compile_node(node.end) if node.end is not None else None
    si, ei, single = node.start_included, node.end_included, node.single

    def run(scope: Scope) -> Any:
        s = start(scope) if start is not None else None
        e = end(scope) if end is not None else None
        if single:
            return Range(s, s, True, True, True)
        if start is not None and s is None:
            if e is None:
                return None
            s = NULL_END
        if end is not None and e is None:
            if s is None or s is NULL_END:
                return None
            e = NULL_END
        if s is not None and s is not NULL_END and not _rangeable(s):
            return None
        if e is not None and e is not NULL_END and not _rangeable(e):
            return None
        if s is not None and e is not None and s is not NULL_END and e is not NULL_END:
            c = compare(s, e)
            if c is None or c > 0:
                return None
        return Range(s, e, si, ei)

    return run


def _rangeable(v: Any) -> bool:
    return isinstance(v, (Decimal, str, dt.date, FeelTime, YearsMonths, DayTime)) and not (
        isinstance(v, bool)
    )


# ---------------------------------------------------------------- access


def _path(node: A.Path) -> Evaluator:
    target = compile_node(node.target)
    name = node.name

    def run(scope: Scope) -> Any:
        return get_member(target(scope), name)

    return run


def _filter(node: A.Filter) -> Evaluator:
    target = compile_node(node.target)
    pred = compile_node(node.predicate)
    constant = isinstance(node.predicate, A.Literal)

    def run(scope: Scope) -> Any:
        v = target(scope)
        if v is None:
            return None
        items = v if isinstance(v, list) else [v]
        if constant:
            return _pick(items, pred(scope))
        out = []
        state = scope.state
        for index, item in enumerate(items):
            state.tick()
            if type(item) is dict:
                # the item's entries are names in the predicate; `item` is the item itself
                inner = scope.child(item if "item" in item else {**item, "item": item})
            else:
                inner = scope.child({"item": item})
            r = pred(inner)
            if index == 0 and type(r) is Decimal:
                return _pick(items, r)
            if r is True:
                out.append(item)
        return out

    return run


def _pick(items: list[Any], index: Any) -> Any:
    if isinstance(index, bool):
        return list(items) if index else []
    if type(index) is not Decimal or not is_integer(index):
        return None
    i = int(index)
    if i > 0 and i <= len(items):
        return items[i - 1]
    if i < 0 and -i <= len(items):
        return items[i]
    return None


# ---------------------------------------------------------------- calls and functions


def _call(node: A.Call) -> Evaluator:
    plain = _invoke(node)
    defined = _is_defined(node, plain)
    return plain if defined is None else defined


def _invoke(node: A.Call) -> Evaluator:
    args = [compile_node(a) for a in node.args]
    named = [(k, compile_node(v)) for k, v in node.named] if node.named is not None else None
    pos = node.pos
    if isinstance(node.target, A.Name):
        name = node.target.name
        fallback = BUILTINS.get(name)

        def resolve(scope: Scope) -> Any:
            v = scope.lookup(name, fallback is None)
            if isinstance(v, Function):
                return v
            if fallback is None:
                raise FeelError(f"unknown function '{name}'", pos)
            return fallback

    else:
        target = compile_node(node.target)

        def resolve(scope: Scope) -> Any:
            v = target(scope)
            if not isinstance(v, Function):
                return None
            return v

    def run(scope: Scope) -> Any:
        fn = resolve(scope)
        if fn is None:
            return None
        values = [a(scope) for a in args]
        kw = {k: v(scope) for k, v in named} if named is not None else None
        bound = bind(fn, values, kw)
        if bound is None:
            return None
        index, bound_args = bound
        if fn.impls is not None and kw is not None:
            return fn.impls[index](*bound_args)
        return fn.call(*bound_args)

    return run


def _is_defined(node: A.Call, fallback: Evaluator) -> Evaluator | None:
    """`is defined(x)` / `is defined(a.b)` (Camunda): does the name or entry exist at all?

    A missing variable and a variable holding null both evaluate to null, so the check must
    look at the name itself. A variable called `is defined` holding a function wins.
    """
    if not isinstance(node.target, A.Name) or node.target.name != "is defined":
        return None
    if node.named is not None:
        if len(node.named) != 1 or node.named[0][0] != "value":
            return None
        arg = node.named[0][1]
    elif len(node.args) == 1:
        arg = node.args[0]
    else:
        return None
    if isinstance(arg, A.Name):
        name = arg.name

        def run_name(scope: Scope) -> Any:
            v = scope.lookup("is defined", False)
            if isinstance(v, Function):
                return fallback(scope)
            return scope.lookup(name) is not MISSING

        return run_name
    if isinstance(arg, A.Path):
        target, key = compile_node(arg.target), arg.name

        def run_path(scope: Scope) -> Any:
            if isinstance(scope.lookup("is defined", False), Function):
                return fallback(scope)
            v = target(scope)
            if isinstance(v, dict):
                return key in v
            return v is not None and get_member(v, key) is not None

        return run_path
    return None


def _function_def(node: A.FunctionDef) -> Evaluator:
    names = [n for n, _ in node.params]
    types = [t for _, t in node.params]
    body = compile_node(node.body)
    typed = any(t is not None for t in types)
    param_types = tuple(t if t is not None else T.ANY for t in types)
    if node.external:
        return _external(names, body, param_types)

    def run(scope: Scope) -> Any:
        state = scope.state

        def call(*args: Any) -> Any:
            if typed:
                converted = []
                for a, t in zip(args, param_types, strict=True):
                    c = T.coerce(a, t)
                    if c is None and a is not None:
                        return None
                    converted.append(c)
                args = tuple(converted)
            state.tick()
            state.enter_call()
            try:
                return body(scope.child(dict(zip(names, args, strict=True))))
            finally:
                state.depth -= 1

        return Function("anonymous", [tuple(names)], call, param_types)

    return run


def _external(names: list[str], mapping: Evaluator, param_types: tuple) -> Evaluator:
    """`function(a) external {java: {class: ..., method signature: ...}}` (see java.py)."""

    def run(scope: Scope) -> Any:
        method, where = java.resolve(mapping(scope))
        state = scope.state

        def call(*args: Any) -> Any:
            if method is None:
                raise FeelError(where)
            state.tick()
            return method(*args)

        return Function(where, [tuple(names)], call, param_types)

    return run


# ---------------------------------------------------------------- textual forms


def _if(node: A.If) -> Evaluator:
    cond, then, otherwise = (
        compile_node(node.condition),
        compile_node(node.then),
        compile_node(node.otherwise),
    )
    return lambda scope: then(scope) if cond(scope) is True else otherwise(scope)


def _for(node: A.For) -> Evaluator:
    iters = [
        (name, compile_node(start), compile_node(end) if end is not None else None)
        for name, start, end in node.iterators
    ]
    body = compile_node(node.body)

    def run(scope: Scope) -> Any:
        results: list[Any] = []
        state = scope.state

        def loop(k: int, sc: Scope) -> bool:
            if k == len(iters):
                state.tick()
                if len(results) >= LIST_ITEMS_MAX:
                    raise FeelError(f"for produced more than {LIST_ITEMS_MAX} items")
                results.append(body(sc.child({"partial": results})))
                return True
            name, start, end = iters[k]
            values = iteration_values(start(sc), end(sc) if end is not None else MISSING)
            if values is None:
                return False
            for v in values:
                if not loop(k + 1, sc.child({name: v})):
                    return False
            return True

        if not loop(0, scope):
            return None
        return results

    return run


def _quantified(node: A.Quantified) -> Evaluator:
    iters = [(name, compile_node(src)) for name, src in node.iterators]
    cond = compile_node(node.condition)
    every = node.every

    def run(scope: Scope) -> Any:
        state = scope.state
        found_null = False

        def loop(k: int, sc: Scope) -> bool | None:
            nonlocal found_null
            if k == len(iters):
                state.tick()
                r = cond(sc)
                if r is None or not isinstance(r, bool):
                    found_null = True
                    return None
                return r
            name, src = iters[k]
            values = iteration_values(src(sc))
            if values is None:
                found_null = True
                return None
            for v in values:
                r = loop(k + 1, sc.child({name: v}))
                if every and r is False:
                    return False
                if not every and r is True:
                    return True
            return every

        r = loop(0, scope)
        if r is None:
            return None
        return r

    return run


_COMPILERS: dict[type, Callable[[Any], Evaluator]] = {
    A.Literal: _literal,
    A.Name: _name,
    A.Binary: _binary,
    A.Unary: _unary,
    A.Between: _between,
    A.InstanceOf: _instance_of,
    A.In: _in,
    A.ListNode: _list,
    A.ContextNode: _context,
    A.RangeNode: _range,
    A.Path: _path,
    A.Filter: _filter,
    A.Call: _call,
    A.FunctionDef: _function_def,
    A.If: _if,
    A.For: _for,
    A.Quantified: _quantified,
}
