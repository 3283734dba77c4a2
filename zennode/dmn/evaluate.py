"""Evaluating a decision of a DRG: requirements first, each decision once, then its logic.

A decision sees the values of its required decisions and inputs and, as FEEL functions, the
business knowledge models and decision services it requires; elements of an imported model
appear under the import's name (`loans.Monthly Payment`). The caller's variables are the outer
scope (models without input data, as Camunda Modeler writes them, read them directly); an
input data value is the variable of that name, converted to the input's type.

Everything is deterministic: no clock (`now` is the caller's instant for `now()`/`today()`),
no I/O; one evaluation shares one FEEL sandbox budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zennode.errors import BadRequest, NotFound
from zennode.feel import FeelError, from_json, to_json
from zennode.feel.builtins.temporal_fns import NOW
from zennode.feel.scope import Scope
from zennode.feel.values import MISSING, Function, to_string

from .boxed import make_function
from .errors import DecisionError
from .model import (
    BusinessKnowledgeModel,
    Decision,
    DecisionDefinitions,
    DecisionService,
    InputData,
    Ref,
)
from .run import Run
from .tables import DecisionTable, MatchedRule, TableTrace
from .types import ANY, FunctionItem
from .types import Ref as TypeRef

Path = tuple[str, ...]


# ---------------------------------------------------------------- results


@dataclass(slots=True)
class EvaluatedDecision:
    """One decision of an evaluation: its value and, for a decision table, what matched."""

    decision_id: str
    decision_name: str
    decision_type: str
    output: Any
    table: DecisionTable | None = None
    inputs: list[Any] = field(default_factory=list)
    matched: list[MatchedRule] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decisionId": self.decision_id,
            "decisionName": self.decision_name,
            "decisionType": self.decision_type,
            "output": json_value(self.output),
        }
        table = self.table
        if table is not None:
            out["evaluatedInputs"] = [
                {"inputId": i.id, "inputName": i.label, "inputValue": json_value(v)}
                for i, v in zip(table.inputs, self.inputs, strict=False)
            ]
            out["matchedRules"] = [
                {
                    "ruleId": m.rule_id,
                    "ruleIndex": m.rule_index,
                    "evaluatedOutputs": [
                        {"outputId": o.id, "outputName": o.name, "outputValue": json_value(v)}
                        for o, v in zip(table.outputs, m.outputs, strict=True)
                    ],
                }
                for m in self.matched
            ]
        return out


@dataclass(slots=True)
class DecisionResult:
    """The value of the decision asked for and every decision evaluated to get it."""

    decision_id: str
    decision_name: str
    output: Any
    evaluated: list[EvaluatedDecision]

    def to_json(self) -> dict[str, Any]:
        return {
            "decisionId": self.decision_id,
            "decisionName": self.decision_name,
            "output": json_value(self.output),
            "evaluatedDecisions": [e.to_json() for e in self.evaluated],
        }


@dataclass(slots=True)
class ServiceResult:
    """A decision service invoked directly: its value and each output decision's value."""

    service_id: str
    service_name: str
    output: Any
    outputs: dict[str, Any]
    evaluated: list[EvaluatedDecision]

    def to_json(self) -> dict[str, Any]:
        return {
            "decisionServiceId": self.service_id,
            "decisionServiceName": self.service_name,
            "output": json_value(self.output),
            "evaluatedDecisions": [e.to_json() for e in self.evaluated],
        }


def json_value(value: Any) -> Any:
    """JSON for a result; functions and ranges (no JSON form) as their FEEL text."""
    try:
        return to_json(value)
    except FeelError:
        if isinstance(value, list):
            return [json_value(v) for v in value]
        if isinstance(value, dict):
            return {k: json_value(v) for k, v in value.items()}
        return to_string(value)


# ---------------------------------------------------------------- entry points


def evaluate(
    defs: DecisionDefinitions,
    decision: str,
    variables: Mapping[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
    given_decisions: bool = False,
) -> DecisionResult:
    """Evaluate `decision` (an id, else a name) of `defs` with `variables` (JSON or FEEL).

    Raises NotFound for an unknown decision, BadRequest for variables that are not a
    mapping, DecisionError (a FeelError) when a decision fails. `given_decisions`: a variable
    named like a required decision stands for it (the TCK's convention; the engine keeps it
    off, so a stale process variable never replaces a decision).
    """
    target = defs.find(decision, Decision)
    if not isinstance(target, Decision):
        raise NotFound(f"no decision '{decision}' in '{defs.name or defs.id}'")
    run = Run(_variables(variables), now, given_decisions)
    token = NOW.set(now) if now is not None else None
    try:
        value = decision_value(run, defs, (), target, root=True)
    except DecisionError as exc:
        exc.evaluated = list(run.trace)
        raise
    except RecursionError:
        raise DecisionError("decisions nested too deeply", target.id, target.name) from None
    finally:
        if token is not None:
            NOW.reset(token)
    return DecisionResult(target.id, target.name, value, run.trace)


def evaluate_service(
    defs: DecisionDefinitions,
    service: str,
    variables: Mapping[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
) -> ServiceResult:
    """Invoke a decision service directly: its inputs are the variables of their names."""
    target = defs.find(service, DecisionService)
    if not isinstance(target, DecisionService):
        raise NotFound(f"no decision service '{service}' in '{defs.name or defs.id}'")
    run = Run(_variables(variables), now)
    token = NOW.set(now) if now is not None else None
    outputs: dict[str, Any] = {}

    def invoke() -> Any:
        fn = service_function(run, defs, (), target)
        args = [run.root.lookup(name, False) for name in fn.signatures[0]]
        args = [None if a is MISSING else a for a in args]
        return _invoke_service(run, defs, target, args, outputs)

    try:
        value = _guarded(run, invoke)
    finally:
        if token is not None:
            NOW.reset(token)
    return ServiceResult(target.id, target.name, value, outputs, run.trace)


def _variables(variables: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise BadRequest(f"variables must be an object, not {type(variables).__name__}")
    return variables


def _guarded(run: Run, fn: Any) -> Any:
    try:
        return fn()
    except DecisionError as exc:
        exc.evaluated = list(run.trace)
        raise
    except RecursionError:
        raise DecisionError("decisions nested too deeply", "", "") from None
    except FeelError as exc:
        raise DecisionError(str(exc), "", "") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in decision_value
        raise DecisionError(f"cannot evaluate: {type(exc).__name__}: {exc}", "", "") from exc


# ---------------------------------------------------------------- the DRG


def decision_value(
    run: Run, defs: DecisionDefinitions, path: Path, d: Decision, root: bool = False
) -> Any:
    key = (path, d.id)
    if key in run.results:
        return run.results[key]
    if run.given_decisions and not root:
        given = _variable(run, path, d.name)
        if given is not MISSING:
            value = d.type.coerce(given)
            run.results[key] = value
            return value
    if key in run.active:
        raise DecisionError(f"decision '{d.id}' requires itself", d.id, d.name)
    run.active.add(key)
    try:
        scope = requirement_scope(run, defs, path, d.requires, run.root) if d.requires else run.root
        expr = d.expression
        trace = TableTrace() if type(expr) is DecisionTable else None
        try:
            if trace is not None:
                value = expr.evaluate(run, scope, trace)  # type: ignore[call-arg]
            else:
                value = expr.evaluate(run, scope)
            if d.type is not ANY:
                value = d.type.coerce(value)
        except DecisionError:
            raise
        except FeelError as exc:
            text = str(exc)
            if not text.startswith(f"decision '{d.id}'"):
                text = f"decision '{d.id}' ({d.name}): {text}"
            raise DecisionError(text, d.id, d.name) from None
        except (RecursionError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - a value nobody foresaw must not crash the caller
            message = f"decision '{d.id}' ({d.name}): cannot evaluate: {type(exc).__name__}: {exc}"
            raise DecisionError(message, d.id, d.name) from exc
    finally:
        run.active.discard(key)
    run.results[key] = value
    record = EvaluatedDecision(d.id, d.name, expr.kind, value)
    if trace is not None:
        record.table = expr  # type: ignore[assignment]
        record.inputs = trace.inputs
        record.matched = trace.matched
    run.trace.append(record)
    return value


def requirement_scope(
    run: Run, defs: DecisionDefinitions, path: Path, refs: list[Ref], parent: Scope
) -> Scope:
    """`parent` with the values of `refs` bound: by name, imported ones under their import."""
    if not refs:
        return parent
    bindings: dict[str, Any] = {}
    aliases: list[tuple[dict[str, Any], str, Any]] = []
    for ref in refs:
        found = defs.model_of(ref.namespace)
        if found is None:
            raise FeelError(f"no model with namespace '{ref.namespace}'")
        rel, model = found
        el = model.elements.get(ref.id)
        if el is None:
            raise FeelError(f"no element '{ref.id}' in '{model.name}'")
        value = element_value(run, model, path + rel, el)
        target = bindings
        for prefix in rel:
            inner = target.get(prefix)
            if not isinstance(inner, dict):
                inner = target[prefix] = {}
            target = inner
        target[el.name] = value
        if isinstance(el, Decision) and el.id != el.name:
            aliases.append((target, el.id, value))
    # Camunda 8 (dmn-scala) also names a required decision's result by the decision's id
    for target, key, value in aliases:
        target.setdefault(key, value)
    return parent.child(bindings)


def element_value(run: Run, defs: DecisionDefinitions, path: Path, el: Any) -> Any:
    if isinstance(el, Decision):
        return decision_value(run, defs, path, el)
    if isinstance(el, InputData):
        value = _variable(run, path, el.name)
        return None if value is MISSING else el.type.coerce(value, partial=True)
    if isinstance(el, BusinessKnowledgeModel):
        return bkm_function(run, defs, path, el)
    if isinstance(el, DecisionService):
        return service_function(run, defs, path, el)
    raise FeelError(f"'{getattr(el, 'id', el)}' cannot be required")


def _variable(run: Run, path: Path, name: str) -> Any:
    """The caller's variable `name`, inside the contexts named by `path` (imports)."""
    if not path:
        return run.root.lookup(name, False)
    value: Any = run.root.lookup(path[0], False)
    for prefix in (*path[1:], name):
        if not isinstance(value, Mapping):
            return MISSING
        value = value.get(prefix, MISSING)
    return MISSING if value is MISSING else from_json(value)


def bkm_function(
    run: Run, defs: DecisionDefinitions, path: Path, bkm: BusinessKnowledgeModel
) -> Function:
    key = (path, bkm.id)
    fn = run.functions.get(key)
    if fn is not None:
        return fn
    # the function exists before its requirements are bound, so a model may recurse
    closure_vars: dict[str, Any] = {}
    closure = run.root.child(closure_vars)
    fn = make_function(bkm.name, bkm.params, bkm.body, closure, run, bkm.result_type)
    run.functions[key] = fn
    closure_vars[bkm.name] = fn
    bound = requirement_scope(run, defs, path, bkm.knowledge, Scope({}, None, run.state))
    closure_vars.update(bound.vars)
    return fn


def service_function(
    run: Run, defs: DecisionDefinitions, path: Path, service: DecisionService
) -> Function:
    """A decision service as a function of its input data, then its input decisions."""
    key = (path, service.id)
    fn = run.functions.get(key)
    if fn is not None:
        return fn
    params = []
    for ref in service.input_data + service.input_decisions:
        found = defs.model_of(ref.namespace)
        el = found[1].elements.get(ref.id) if found is not None else None
        if el is None:
            raise FeelError(f"decision service '{service.id}': no element '{ref.id}'")
        params.append(el.name)

    def call(*args: Any) -> Any:
        return _invoke_service(run, defs, service, list(args), None)

    fn = Function(service.name, [tuple(params)], call)
    run.functions[key] = fn
    return fn


def _invoke_service(
    run: Run,
    defs: DecisionDefinitions,
    service: DecisionService,
    args: list[Any],
    outputs: dict[str, Any] | None,
) -> Any:
    """Evaluate the service's output decisions in a run of their own: the arguments are its
    input data and input decisions, converted to their types."""
    variables: dict[str, Any] = {}
    nested = run.nested(variables)
    refs = service.input_data + service.input_decisions
    for ref, arg in zip(refs, args, strict=True):
        found = defs.model_of(ref.namespace)
        assert found is not None  # checked when the function was made
        rel, model = found
        el = model.elements[ref.id]
        value = from_json(arg)
        if isinstance(el, InputData):
            variables[el.name] = el.type.coerce(value, partial=True)
        else:
            nested.results[(rel, el.id)] = el.type.coerce(value)
    state = run.state
    state.enter_call()
    try:
        values: dict[str, Any] = {}
        for ref in service.outputs:
            found = defs.model_of(ref.namespace)
            assert found is not None
            rel, model = found
            d = model.elements[ref.id]
            values[d.name] = decision_value(nested, model, rel, d)  # type: ignore[arg-type]
    finally:
        state.depth -= 1
    if outputs is not None:
        outputs.update(values)
    result: Any = next(iter(values.values())) if len(values) == 1 else values
    t = service.type
    if isinstance(t, TypeRef):
        t = t.target()
    if isinstance(t, FunctionItem):
        return t.output.coerce(result)
    return result
