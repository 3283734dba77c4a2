"""Print benchmark results: one JSON line (for machines) and a readable table (for people)."""

from __future__ import annotations

import json
from typing import Any, TextIO


def flatten(results: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"engine": {"per_second": 1}} -> {"engine.per_second": 1}."""
    flat: dict[str, Any] = {}
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = ", ".join(f"{v:,.0f}" if isinstance(v, float) else str(v) for v in value)
        else:
            flat[name] = value
    return flat


def print_results(results: dict[str, Any], out: TextIO) -> None:
    """The JSON line first (one line, parseable), then the table."""
    out.write(json.dumps(results, separators=(",", ":"), sort_keys=True) + "\n")
    rows = flatten(results)
    width = max((len(k) for k in rows), default=0)
    out.write("\n")
    for key, value in rows.items():
        shown = str(value)
        if isinstance(value, float):
            shown = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"
        out.write(f"  {key:<{width}}  {shown:>14}\n")
    out.flush()


def print_safely(results: dict[str, Any], out: TextIO) -> None:
    """`print_results`, quiet when the reader went away (`scripts/bench ... | head -1`)."""
    try:
        print_results(results, out)
    except BrokenPipeError:
        pass
