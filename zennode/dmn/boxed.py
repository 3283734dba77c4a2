"""Boxed expressions, compiled: literal, context, list, relation, function definition,
invocation, conditional, iterators (for / some / every) and filter. Decision tables are in
`tables.py`.

Each compiled expression has `evaluate(run, scope)`; `scope` is a FEEL scope chain holding
FEEL values (a context's entries are one level, a function's parameters another). An
expression with a `typeRef` converts its value to that type on the way out.
"""

from __future__ import annotations

from typing import Any

from zennode.feel import CompiledExpression, FeelError, java
from zennode.feel import types as feel_types
from zennode.feel.functions import bind
from zennode.feel.iteration import iteration_values
from zennode.feel.scope import Scope
from zennode.feel.values import Function

from .run import Run
from .types import ANY, DmnType


class Expr:
    """A compiled boxed expression. `kind` is the name the evaluation trace reports."""

    kind = "EXPRESSION"
    type: DmnType = ANY

    def evaluate(self, run: Run, scope: Scope) -> Any:
        value = self.value(run, scope)
        if self.type is ANY:
            return value
        return self.type.coerce(value)

    def value(self, run: Run, scope: Scope) -> Any:  # pragma: no cover - every kind has one
        raise NotImplementedError


class Literal(Expr):
    kind = "LITERAL_EXPRESSION"

    def __init__(self, compiled: CompiledExpression, type_: DmnType = ANY) -> None:
        self.compiled = compiled
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        return self.compiled.run(scope)


class Failing(Expr):
    """An expression that did not compile, kept when the model was read leniently: it fails
    when (and only when) it is evaluated."""

    def __init__(self, message: str) -> None:
        self.message = message

    def value(self, run: Run, scope: Scope) -> Any:
        raise FeelError(self.message)


class Empty(Expr):
    """A missing expression (an empty context entry value, a decision without logic): null."""

    def value(self, run: Run, scope: Scope) -> Any:
        return None


class Context(Expr):
    """Entries evaluated in order, each seeing the ones before; the value is the result entry
    (an entry without a name) if there is one, else the context of all entries."""

    kind = "CONTEXT"

    def __init__(
        self,
        entries: list[tuple[str, DmnType, Expr]],
        result: Expr | None,
        type_: DmnType = ANY,
    ) -> None:
        self.entries = entries
        self.result = result
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        ctx: dict[str, Any] = {}
        inner = scope.child(ctx)
        for name, t, expr in self.entries:
            v = expr.evaluate(run, inner)
            ctx[name] = v if t is ANY else t.coerce(v)
        if self.result is not None:
            return self.result.evaluate(run, inner)
        return ctx


class ListExpr(Expr):
    kind = "LIST"

    def __init__(self, items: list[Expr], type_: DmnType = ANY) -> None:
        self.items = items
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        return [e.evaluate(run, scope) for e in self.items]


class Relation(Expr):
    """A table of rows: a list of contexts with one entry per column."""

    kind = "RELATION"

    def __init__(
        self, columns: list[tuple[str, DmnType]], rows: list[list[Expr]], type_: DmnType = ANY
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        out = []
        for row in self.rows:
            item = {}
            for (name, t), e in zip(self.columns, row, strict=True):
                v = e.evaluate(run, scope)
                item[name] = v if t is ANY else t.coerce(v)
            out.append(item)
        return out


def make_function(
    name: str,
    params: list[tuple[str, DmnType]],
    body: Expr,
    closure: Scope,
    run: Run,
    result_type: DmnType = ANY,
) -> Function:
    """A FEEL function value whose body is a boxed expression, closing over `closure`.

    An argument that does not conform to its parameter's type (after the singleton-list
    conversions) makes the invocation null, as for typed FEEL functions.
    """
    names = [p for p, _ in params]
    typed = any(t is not ANY for _, t in params)
    state = run.state

    def call(*args: Any) -> Any:
        if typed:
            converted = []
            for a, (_, t) in zip(args, params, strict=True):
                c = t.coerce(a)
                if c is None and a is not None:
                    return None
                converted.append(c)
            args = tuple(converted)
        state.tick()
        state.enter_call()
        try:
            v = body.evaluate(run, closure.child(dict(zip(names, args, strict=True))))
        finally:
            state.depth -= 1
        return v if result_type is ANY else result_type.coerce(v)

    param_types = tuple(getattr(t, "feel_type", feel_types.ANY) for _, t in params)
    return Function(name, [tuple(names)], call, param_types)


class FunctionDefinition(Expr):
    """`functionDefinition` (kind FEEL): a function value closing over the current scope."""

    kind = "FUNCTION_DEFINITION"

    def __init__(self, params: list[tuple[str, DmnType]], body: Expr, type_: DmnType = ANY):
        self.params = params
        self.body = body
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        return make_function("anonymous", self.params, self.body, scope, run)


class JavaCall(Expr):
    """The body of a `functionDefinition kind="Java"`: its context names a class and a method
    signature (see zennode.feel.java); the call passes the parameters in order."""

    def __init__(self, mapping: Expr, params: list[str]) -> None:
        self.mapping = mapping
        self.params = params

    def value(self, run: Run, scope: Scope) -> Any:
        method, where = java.resolve({"java": self.mapping.evaluate(run, scope)})
        if method is None:
            raise FeelError(where)
        return method(*(scope.lookup(p, False) for p in self.params))


class Invocation(Expr):
    """`invocation`: call the function named by `callee` with parameters bound by name."""

    kind = "INVOCATION"

    def __init__(
        self, callee: CompiledExpression, bindings: list[tuple[str, Expr]], type_: DmnType = ANY
    ) -> None:
        self.callee = callee
        self.bindings = bindings
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        fn = self.callee.run(scope)
        if not isinstance(fn, Function):
            raise FeelError(f"'{self.callee.source}' is not a function")
        named = {name: e.evaluate(run, scope) for name, e in self.bindings}
        bound = bind(fn, [], named)
        if bound is None:
            known = ", ".join(p.lstrip("*+").rstrip("?") for p in fn.signatures[0])
            raise FeelError(
                f"'{self.callee.source}' has no parameter(s) {', '.join(named)} (it takes {known})"
            )
        index, values = bound
        if fn.impls is not None:
            return fn.impls[index](*values)
        return fn.call(*values)


class Conditional(Expr):
    kind = "CONDITIONAL"

    def __init__(self, condition: Expr, then: Expr, otherwise: Expr, type_: DmnType = ANY):
        self.condition = condition
        self.then = then
        self.otherwise = otherwise
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        if self.condition.evaluate(run, scope) is True:
            return self.then.evaluate(run, scope)
        return self.otherwise.evaluate(run, scope)


class Iterator(Expr):
    """`for` (a list of results), `some` / `every` (a boolean) over the values of `source`."""

    kind = "ITERATOR"

    def __init__(self, mode: str, variable: str, source: Expr, body: Expr, type_: DmnType = ANY):
        self.mode = mode
        self.variable = variable
        self.source = source
        self.body = body
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        values = iteration_values(self.source.evaluate(run, scope))
        if values is None:
            return None
        state = run.state
        if self.mode == "for":
            out: list[Any] = []
            for v in values:
                state.tick()
                out.append(self.body.evaluate(run, scope.child({self.variable: v, "partial": out})))
            return out
        every = self.mode == "every"
        for v in values:
            state.tick()
            r = self.body.evaluate(run, scope.child({self.variable: v}))
            if not isinstance(r, bool):
                return None
            if r is not every:
                return r
        return every


class Filter(Expr):
    """Items of `source` for which `match` is true; in `match`, `item` is the item and a
    context item's entries are names."""

    kind = "FILTER"

    def __init__(self, source: Expr, match: Expr, type_: DmnType = ANY) -> None:
        self.source = source
        self.match = match
        self.type = type_

    def value(self, run: Run, scope: Scope) -> Any:
        items = self.source.evaluate(run, scope)
        if items is None:
            return None
        if type(items) is not list:
            items = [items]
        out = []
        for item in items:
            run.state.tick()
            names = {**item, "item": item} if type(item) is dict else {"item": item}
            if self.match.evaluate(run, scope.child(names)) is True:
                out.append(item)
        return out
