"""DMN TCK runner for FEEL: evaluate every case of `cases.jsonl`, compare, summarise.

Used by `scripts/feel-tck` and by the pytest ratchet (tests/feel/test_tck.py). Each case runs
in its own try: no case can crash the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from zennode.feel import types as T
from zennode.feel.api import compile
from zennode.feel.errors import FeelError
from zennode.feel.parser import Parser
from zennode.feel.temporal import parse_date, parse_datetime, parse_duration, parse_time
from zennode.feel.values import equal, from_json, to_string


def default_cases_path() -> Path:
    shared = os.environ.get("ZENNODE_SHARED")
    if shared:
        return Path(shared) / "feel-tck" / "cases.jsonl"
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "feel-tck" / "cases.jsonl"


def load_cases(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def decode(value: Any) -> Any:
    """A TCK JSON value -> FEEL value (`@decimal`, `@type` wrappers resolved)."""
    if isinstance(value, dict):
        if set(value) == {"@decimal"}:
            return Decimal(value["@decimal"])
        if "@type" in value and set(value) <= {"@type", "value"}:
            text = value.get("value")
            kind = value["@type"]
            if text is None:
                return None
            parser = {
                "date": parse_date,
                "time": parse_time,
                "dateTime": parse_datetime,
                "duration": parse_duration,
            }.get(kind)
            return parser(text.strip()) if parser else text
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return from_json(value)


def parse_type_ref(text: str | None) -> tuple | None:
    if not text:
        return None
    text = text.replace(" [constrained]", "").strip()
    try:
        p = Parser(text)
        t = p.type_expr()
        return t if p.tok.kind == "eof" else None
    except FeelError:
        return None


def same(expected: Any, actual: Any) -> bool:
    """Decimal-exact, temporal by value, lists and contexts element-wise."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, Decimal) and isinstance(actual, Decimal):
        if expected == actual:
            return True
        # the TCK writes some irrational / repeating results with fewer digits than decimal128
        digits = len(expected.as_tuple().digits)
        if digits >= 8:
            exp = expected.as_tuple().exponent
            return actual.quantize(Decimal(1).scaleb(exp)) == expected
        return False
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            same(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same(v, actual[k]) for k, v in expected.items()
        )
    if type(expected) is not type(actual) and not (
        isinstance(expected, Decimal) or isinstance(actual, Decimal)
    ):
        return False
    return equal(expected, actual) is True


@dataclass
class Outcome:
    case: dict[str, Any]
    status: str  # passed | failed | error
    actual: Any = None
    detail: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def summary(self) -> dict[str, int]:
        return {
            "total": len(self.outcomes),
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "errors": self.count("error"),
        }

    def by_feature(self) -> list[tuple[str, int, int]]:
        table: dict[str, list[int]] = {}
        for o in self.outcomes:
            for tag in o.case.get("features") or ["(none)"]:
                row = table.setdefault(tag, [0, 0])
                row[0] += 1
                row[1] += o.status == "passed"
        return sorted(((k, v[0], v[1]) for k, v in table.items()), key=lambda r: (-r[1], r[0]))


#: the instant `now()` / `today()` see during a TCK run (a fixed one keeps runs reproducible)
TCK_NOW = dt.datetime(2024, 1, 15, 12, 0, 0, tzinfo=dt.UTC)


def run_case(case: dict[str, Any]) -> Outcome:
    try:
        inputs = {k: decode(v) for k, v in (case.get("inputs") or {}).items()}
        expected = decode(case.get("expected"))
        error = None
        actual: Any = None
        try:
            actual = compile(case["expression"]).evaluate(inputs, now=TCK_NOW)
        except FeelError as exc:
            error = exc
        if error is None:
            t = parse_type_ref(case.get("typeRef"))
            if t is not None:
                actual = T.coerce(actual, t)
        if case.get("errorResult"):
            if error is not None or actual is None or same(expected, actual):
                return Outcome(case, "passed", actual)
            return Outcome(case, "failed", actual, "expected an error or null")
        if error is not None:
            return Outcome(case, "error", None, error.message)
        if same(expected, actual):
            return Outcome(case, "passed", actual)
        return Outcome(case, "failed", actual)
    except Exception as exc:  # noqa: BLE001 - the runner must survive any case
        return Outcome(case, "error", None, f"{type(exc).__name__}: {exc}")


def run(cases: Iterable[dict[str, Any]]) -> Report:
    start = time.perf_counter()
    report = Report([run_case(c) for c in cases])
    report.seconds = time.perf_counter() - start
    return report


def show(value: Any) -> str:
    try:
        if isinstance(value, list):
            return "[" + ", ".join(show(v) for v in value) + "]"
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        return to_string(value)
    except Exception:  # noqa: BLE001 - display only
        return repr(value)


def format_report(report: Report, verbose: bool = False) -> str:
    lines = ["| feature | cases | passed | rate |", "|---|---|---|---|"]
    for tag, total, passed in report.by_feature():
        lines.append(f"| {tag} | {total} | {passed} | {100 * passed / total:.1f}% |")
    if verbose:
        for o in report.outcomes:
            if o.status != "passed":
                c = o.case
                lines.append(
                    f"{o.status.upper()} {c['id']}: {c['expression']!r} inputs={c.get('inputs')} "
                    f"expected={json.dumps(c.get('expected'), ensure_ascii=False)} "
                    f"got={show(o.actual)} {o.detail}"
                )
    lines.append(json.dumps(report.summary()))
    return "\n".join(lines)
