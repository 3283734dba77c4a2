"""DMN TCK runner: every test case folder under a directory, evaluated and compared.

A folder holds `.dmn` models and `*-test-NN.xml` files (the TCK's `testCases` format). Each
`resultNode` of each `testCase` is one case. Models are read leniently (an expression that does
not compile fails its own decision only) and in import order. A case passes when the value
equals the expected one (the FEEL runner's rules: decimals by value, temporals by value, lists
and contexts element-wise); an `errorResult` case passes on an error or null. Used by
`scripts/dmn-tck` and by tests/dmn/test_tck.py (the ratchet).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import parse

from zennode.dmn import DecisionDefinitions, evaluate, evaluate_service, parse_dmn
from zennode.dmn.parser import document_namespace, imported_namespaces
from zennode.dmn.xml import child, children, local
from zennode.errors import ZennodeError
from zennode.feel import FeelError
from zennode.tools.feel_tck import TCK_NOW, same, show

__all__ = ["Report", "default_dir", "format_report", "run", "show"]
from zennode.feel.temporal import parse_date, parse_datetime, parse_duration, parse_time

XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def default_dir() -> Path:
    shared = os.environ.get("ZENNODE_SHARED")
    if shared:
        return Path(shared) / "dmn-tck"
    return Path(__file__).resolve().parents[2].parent / "shared" / "dmn-tck"


# ---------------------------------------------------------------- cases


@dataclass
class Case:
    folder: str
    file: str
    test_id: str
    node: str
    labels: list[str]
    status: str = "error"  # passed | failed | error
    expected: Any = None
    actual: Any = None
    detail: str = ""

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.file}/{self.test_id}/{self.node}"


@dataclass
class Report:
    cases: list[Case] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, int]:
        return {
            "total": len(self.cases),
            "passed": sum(c.status == "passed" for c in self.cases),
            "failed": sum(c.status == "failed" for c in self.cases),
            "errors": sum(c.status == "error" for c in self.cases),
        }

    def table(self, key: str = "folder") -> list[tuple[str, int, int, int, int]]:
        rows: dict[str, list[int]] = {}
        for c in self.cases:
            keys = c.labels or ["(no label)"] if key == "label" else [c.folder]
            for k in keys:
                row = rows.setdefault(k, [0, 0, 0, 0])
                row[0] += 1
                row[1] += c.status == "passed"
                row[2] += c.status == "failed"
                row[3] += c.status == "error"
        return [(k, *v) for k, v in sorted(rows.items())]  # type: ignore[misc]

    def passed_ids(self) -> list[str]:
        return sorted(c.id for c in self.cases if c.status == "passed")


# ---------------------------------------------------------------- values


def decode(el: Element | None) -> Any:
    """A TCK value element (`expected`, `inputNode`, `item`, `component`) -> FEEL value."""
    if el is None:
        return None
    value = child(el, "value")
    if value is not None:
        return _scalar(value)
    lst = child(el, "list")
    if lst is not None:
        return [decode(item) for item in children(lst, "item")]
    comps = list(children(el, "component"))
    if comps:
        return {c.get("name", ""): decode(c) for c in comps}
    if el.get(XSI + "nil") == "true":
        return None
    return None


def _scalar(value: Element) -> Any:
    if value.get(XSI + "nil") == "true":
        return None
    kind = (value.get(XSI + "type") or "").rpartition(":")[2]
    text = value.text or ""
    if kind in ("decimal", "double", "float", "integer", "int", "long", "short"):
        try:
            return Decimal(text.strip())
        except InvalidOperation:
            return None
    if kind == "boolean":
        return text.strip() == "true"
    parsers = {
        "date": parse_date,
        "dateTime": parse_datetime,
        "time": parse_time,
        "duration": parse_duration,
        "dayTimeDuration": parse_duration,
        "yearMonthDuration": parse_duration,
    }
    if kind in parsers:
        return parsers[kind](text.strip())
    # a nested list or context written inside <value>
    if len(value):
        return decode(value)
    return text


# ---------------------------------------------------------------- models


def load_models(folder: Path) -> tuple[dict[str, DecisionDefinitions], dict[str, str]]:
    """Parse every model of a folder, imported ones first; (by file name, problems by file)."""
    sources = {p.name: p.read_bytes() for p in sorted(folder.glob("*.dmn"))}
    namespaces: dict[str, str] = {}
    needs: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for name, data in sources.items():
        try:
            namespaces[name] = document_namespace(data)
            needs[name] = imported_namespaces(data)
        except ZennodeError as exc:
            problems[name] = exc.message
    models: dict[str, DecisionDefinitions] = {}
    pending = [n for n in sources if n not in problems]
    while pending:
        progressed = False
        for name in list(pending):
            have = {m.namespace for m in models.values()}
            if all(ns in have or ns not in namespaces.values() for ns in needs[name]):
                pending.remove(name)
                progressed = True
                try:
                    models[name] = parse_dmn(sources[name], models.values(), lenient=True)
                except ZennodeError as exc:
                    problems[name] = exc.message
        if not progressed:
            for name in pending:
                problems[name] = "its imports form a cycle"
            break
    return models, problems


# ---------------------------------------------------------------- running


def run_folder(folder: Path, root: Path) -> list[Case]:
    label = str(folder.relative_to(root))
    models, problems = load_models(folder)
    cases: list[Case] = []
    for test_file in sorted(folder.glob("*.xml")):
        try:
            doc = _read_tests(test_file)
        except ZennodeError as exc:
            cases.append(Case(label, test_file.name, "-", "-", [], "error", detail=exc.message))
            continue
        labels = [(lbl.text or "").strip() for lbl in doc.iter() if local(lbl) == "label"]
        model_name = _model_name(doc, "")
        for tc in children(doc, "testCase"):
            cases.extend(
                _run_test_case(tc, label, test_file.name, labels, model_name, models, problems)
            )
    return cases


def _model_name(el: Element, default: str) -> str:
    m = child(el, "modelName")
    return (m.text or "").strip() if m is not None else default


def _read_tests(path: Path) -> Element:
    """A test file, read with the same XML safety as models."""
    try:
        return parse(io.BytesIO(path.read_bytes()), forbid_dtd=True).getroot()
    except Exception as exc:  # noqa: BLE001 - any unreadable test file is one error
        raise ZennodeError(f"cannot read {path.name}: {exc}") from None


def _run_test_case(
    tc: Element,
    folder: str,
    file: str,
    labels: list[str],
    model_name: str,
    models: dict[str, DecisionDefinitions],
    problems: dict[str, str],
) -> list[Case]:
    test_id = tc.get("id", "?")
    name = _model_name(tc, model_name)
    nodes = list(children(tc, "resultNode"))
    made = [Case(folder, file, test_id, n.get("name", "?"), labels) for n in nodes]
    defs = models.get(name) or (next(iter(models.values())) if len(models) == 1 else None)
    problem = None
    if name in problems:
        problem = f"model not read: {problems[name]}"
    elif defs is None:
        problem = f"no model {name!r}"
    else:
        try:
            inputs = _inputs(tc, defs)
        except Exception as exc:  # noqa: BLE001 - a bad input is this test's error only
            problem = f"bad input: {exc}"
    if problem is not None or defs is None:
        for c in made:
            c.detail = problem or ""
        return made
    service: Any = None
    if tc.get("type") == "decisionService":
        service = _attempt(
            lambda: evaluate_service(defs, tc.get("invocableName", ""), inputs, now=TCK_NOW)
        )
    for node, case in zip(nodes, made, strict=True):
        case.expected = decode(child(node, "expected"))
        if service is not None:
            outcome = service if isinstance(service, _Failure) else _service_output(service, case)
        else:
            outcome = _attempt(lambda n=node: _decision_output(defs, n, inputs))
        _judge(case, outcome, node.get("errorResult") == "true")
    return made


class _Failure:
    def __init__(self, message: str) -> None:
        self.message = message


def _attempt(fn: Any) -> Any:
    """fn() or a _Failure: any exception is one case's error, never the end of the run."""
    try:
        return fn()
    except (FeelError, ZennodeError) as exc:
        return _Failure(getattr(exc, "message", str(exc)))
    except Exception as exc:  # noqa: BLE001
        return _Failure(f"{type(exc).__name__}: {exc}")


def _inputs(tc: Element, defs: DecisionDefinitions) -> dict[str, Any]:
    """The test's inputs; one of an imported model (`namespace=`) goes under its import."""
    inputs: dict[str, Any] = {}
    for node in children(tc, "inputNode"):
        target = inputs
        ns = node.get("namespace")
        if ns and ns != defs.namespace:
            found = defs.model_of(ns)
            if found is None:
                raise ValueError(f"no imported model with namespace {ns}")
            for prefix in found[0]:
                target = target.setdefault(prefix, {})
        target[node.get("name", "")] = decode(node)
    return inputs


def _decision_output(defs: DecisionDefinitions, node: Element, inputs: dict[str, Any]) -> Any:
    name = node.get("name", "")
    ns = node.get("namespace")
    if ns and ns != defs.namespace:
        found = defs.model_of(ns)
        if found is None:
            raise ValueError(f"no imported model with namespace {ns}")
        for prefix in found[0]:
            inputs = inputs.get(prefix) or {}
        defs = found[1]
    return evaluate(defs, name, inputs, now=TCK_NOW, given_decisions=True).output


def _service_output(result: Any, case: Case) -> Any:
    """A service with one output decision gives that value; else the named decision's."""
    if len(result.outputs) == 1:
        return result.output
    return result.outputs.get(case.node)


def _judge(case: Case, outcome: Any, error_expected: bool) -> None:
    failed = isinstance(outcome, _Failure)
    case.actual = None if failed else outcome
    if error_expected:
        ok = failed or case.actual is None or same(case.expected, case.actual)
        case.status = "passed" if ok else "failed"
        case.detail = "" if ok else "expected an error or null"
    elif failed:
        case.status, case.detail = "error", outcome.message
    else:
        try:
            case.status = "passed" if same(case.expected, case.actual) else "failed"
        except Exception as exc:  # noqa: BLE001
            case.status, case.detail = "error", f"cannot compare: {exc}"


def folders(root: Path) -> list[Path]:
    """Every directory under `root` holding a `.dmn` model."""
    found = {p.parent for p in root.rglob("*.dmn")}
    return sorted(found)


def run(root: Path, only: Iterable[str] = ()) -> Report:
    start = time.perf_counter()
    report = Report()
    wanted = list(only)
    for folder in folders(root):
        if wanted and not any(w in str(folder) for w in wanted):
            continue
        report.cases.extend(run_folder(folder, root))
    report.seconds = time.perf_counter() - start
    return report


def format_report(report: Report, verbose: bool = False, by: str = "folder") -> str:
    lines = [f"| {by} | cases | passed | failed | errors |", "|---|---|---|---|---|"]
    for name, total, passed, failed, errors in report.table(by):
        lines.append(f"| {name} | {total} | {passed} | {failed} | {errors} |")
    if verbose:
        for c in report.cases:
            if c.status != "passed":
                lines.append(
                    f"{c.status.upper()} {c.id}: expected={show(c.expected)} "
                    f"got={show(c.actual)} {c.detail}"
                )
    lines.append(json.dumps(report.summary()))
    return "\n".join(lines)
