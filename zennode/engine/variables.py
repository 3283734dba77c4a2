"""Variable mappings.

Scope choice (documented in docs): one variable scope per process instance. Embedded
sub-processes read and write the instance's variables; input mappings of a job task shape only
the job's variables, while input/output mappings of other elements write into the instance
scope. This is ZenBPM's model and keeps every evaluation one dict lookup deep.
"""

from __future__ import annotations

from typing import Any

from zennode.engine.expressions import ExpressionFailed, evaluate
from zennode.engine.model import Mapping

TARGET_DEPTH_MAX = 16


def assign(variables: dict[str, Any], target: str, value: Any) -> None:
    """Set `target` (a name or a dotted path such as `order.id`) in `variables`."""
    parts = target.split(".")
    if len(parts) > TARGET_DEPTH_MAX:
        raise ExpressionFailed(f"mapping target '{target}' is nested too deeply")
    node = variables
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        else:
            child = dict(child)  # never mutate a dict another value may share
            node[part] = child
        node = child
    node[parts[-1]] = value


def map_into(
    mappings: tuple[Mapping, ...], context: dict[str, Any], target: dict[str, Any]
) -> None:
    """Evaluate each mapping against `context` and assign into `target` (may be the same dict)."""
    for mapping in mappings:
        assign(target, mapping.target, evaluate(mapping.source, context))


def check_variables(value: Any) -> dict[str, Any]:
    """Command variables must be a JSON object (None means none)."""
    from zennode.errors import BadRequest

    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise BadRequest("variables must be a JSON object")
    return value
