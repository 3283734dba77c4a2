"""Public entry points: compile once, evaluate many times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from . import ast as A
from .builtins.temporal_fns import NOW
from .compiler import Evaluator, compile_node
from .errors import FeelError
from .lexer import name_part, name_start
from .limits import VARIANTS_MAX
from .parser import RESERVED, Parser, parse
from .scope import Scope, State
from .values import Range

_EMPTY: Mapping[str, Any] = {}


class CompiledExpression:
    """A parsed FEEL expression turned into Python closures; safe to share between threads.

    Names such as `order-id` or `is in stock` cannot be read without knowing that a variable
    has that name (`order - id`, `is in stock` as a membership test). When an evaluation meets
    an unknown name and the variables hold such a name that also appears in the source, the
    expression is parsed again knowing those names (cached per set of names) and evaluated
    with that reading.
    """

    __slots__ = ("source", "_run", "_variants", "_known", "constant", "name")

    def __init__(
        self,
        source: str,
        run: Evaluator,
        known: frozenset[str] = frozenset(),
        constant: tuple[Any] | None = None,
    ) -> None:
        self.source = source
        self._run = run
        self._known = known
        self._variants: dict[frozenset[str], Evaluator | None] = {}
        #: `(value,)` when the expression is a literal (`"Approved"`, `10`): callers may skip
        #: evaluating it
        self.constant = constant
        #: the variable when the expression is only a name (`amount`): a caller may look it
        #: up itself, falling back to `run` when it is not bound
        self.name: str | None = None

    def evaluate(
        self, variables: Mapping[str, Any] | None = None, *, now: dt.datetime | None = None
    ) -> Any:
        """Evaluate with `variables` (JSON-ish values are converted on first use).

        `now` is the instant `now()` / `today()` return; without it they give null, because
        evaluation must be deterministic (the engine passes the command's timestamp).
        """
        if variables is None:
            variables = _EMPTY
        elif not isinstance(variables, Mapping):
            raise FeelError(f"variables must be a mapping, not {type(variables).__name__}")
        token = NOW.set(now) if now is not None else None
        try:
            state = State(now)
            error: FeelError | None = None
            try:
                result = self._run(Scope(variables, None, state, raw=True))
            except FeelError as exc:
                result, error = None, exc
            if state.missed and variables:
                variant = self._variant(variables)
                if variant is not None:
                    return variant(Scope(variables, None, State(now), raw=True))
            if error is not None:
                raise error
            return result
        except FeelError as exc:
            raise exc.with_source(self.source) from None
        except RecursionError:
            raise FeelError("expression nested too deeply").with_source(self.source) from None
        except MemoryError:
            raise  # depends on the machine, not the expression: not a deterministic outcome
        except Exception as exc:  # noqa: BLE001
            # a value the evaluator did not foresee must not escape as a crash of the caller
            message = f"cannot evaluate: {type(exc).__name__}: {exc}"
            raise FeelError(message).with_source(self.source) from exc
        finally:
            if token is not None:
                NOW.reset(token)

    def run(self, scope: Scope) -> Any:
        """Evaluate in a scope the caller built (values already FEEL values, state shared).

        For evaluators layered on FEEL (DMN): one `State` bounds a whole decision evaluation,
        and the names of a context or a required decision are ordinary scope levels. The
        caller sets the clock (`NOW`) if it has one. Errors name this expression.
        """
        state = scope.state
        outer_missed = state.missed
        state.missed = False
        try:
            error: FeelError | None = None
            try:
                result = self._run(scope)
            except FeelError as exc:
                result, error = None, exc
            if state.missed:
                variant = self._variant(scope.names())
                if variant is not None:
                    return variant(scope)
            if error is not None:
                raise error
            return result
        except FeelError as exc:
            raise exc.with_source(self.source) from None
        except RecursionError:
            raise FeelError("expression nested too deeply").with_source(self.source) from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - as in evaluate()
            message = f"cannot evaluate: {type(exc).__name__}: {exc}"
            raise FeelError(message).with_source(self.source) from exc
        finally:
            state.missed = outer_missed or state.missed

    def _variant(self, variables: Iterable[Any]) -> Evaluator | None:
        names = frozenset(
            k for k in variables if type(k) is str and k in self.source and _needs_known(k)
        )
        if not names or names <= self._known:
            return None
        names |= self._known
        if names in self._variants:
            return self._variants[names]
        try:
            run: Evaluator | None = compile_node(parse(self.source, names))
        except (FeelError, RecursionError):
            run = None
        if len(self._variants) < VARIANTS_MAX:
            self._variants[names] = run
        return run

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


def _needs_known(name: str) -> bool:
    """A variable name that word-joining cannot read: keywords, symbols, odd spacing."""
    for word in name.split(" "):
        if not word or word in RESERVED or not name_start(word[0]):
            return True
        if not all(name_part(c) for c in word):
            return True
    return False


def compile(  # noqa: A001 - the public name
    expression: str, known_names: Iterable[str] = ()
) -> CompiledExpression:
    """Parse `expression` once; raises FeelError (with the position) on a syntax error.

    `known_names` are names the caller will bind (a DMN model's decisions, inputs, context
    entries): those that word-joining cannot read (`Date-Time`, `is in stock`) are then read
    as names from the start instead of being discovered on a miss at run time.
    """
    if not isinstance(expression, str):
        raise FeelError("a FEEL expression must be a string", 0)
    known = frozenset(n for n in known_names if n in expression and _needs_known(n))
    try:
        node = parse(expression, known)
        run = compile_node(node)
    except FeelError as exc:
        raise exc.with_source(expression) from None
    except RecursionError:
        raise FeelError("expression nested too deeply", 0) from None
    constant = (node.value,) if isinstance(node, A.Literal) else None
    compiled = CompiledExpression(expression, run, known, constant)
    if isinstance(node, A.Name):
        compiled.name = node.name
    return compiled


def evaluate(expression: str, variables: Mapping[str, Any] | None = None, **kw: Any) -> Any:
    """Compile and evaluate in one go (prefer `compile` for repeated use)."""
    return compile(expression).evaluate(variables, **kw)


def compile_range(text: str) -> Range | None:
    """`range("[1..10)")`: the text of one range literal or comparison test, literals only."""
    try:
        p = Parser(text)
        node = p.expression()
        if p.tok.kind != "eof":
            return None
    except (FeelError, RecursionError):
        return None
    if not isinstance(node, A.RangeNode) or not _literal_only(node):
        return None
    try:
        value = compile_node(node)(Scope(_EMPTY, None, State(), raw=True))
    except FeelError:
        return None
    return value if isinstance(value, Range) else None


def _literal_only(node: A.Node) -> bool:
    """Range endpoints must be literals (or calls of built-in constructors on literals)."""
    if isinstance(node, A.RangeNode):
        return all(n is None or _literal_only(n) for n in (node.start, node.end))
    if isinstance(node, A.Literal):
        return True
    if isinstance(node, A.Unary):
        return _literal_only(node.operand)
    if isinstance(node, A.Call) and isinstance(node.target, A.Name):
        return node.named is None and all(isinstance(a, A.Literal) for a in node.args)
    return False
