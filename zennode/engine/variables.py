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
from zennode.errors import BadRequest

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
        value = None if mapping.source is None else evaluate(mapping.source, context)
        assign(target, mapping.target, value)


VARIABLES_DEPTH_MAX = 64


def check_variables(value: Any) -> dict[str, Any]:
    """Command variables must be a JSON object (None means none), nested at most 64 deep.

    The depth is checked without recursion, so every replica rejects the same documents for
    the same reason instead of depending on how deep its stack already is.
    """
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise BadRequest("variables must be a JSON object")
    stack: list[tuple[Any, int]] = [(v, 2) for v in value.values() if isinstance(v, (dict, list))]
    while stack:
        node, depth = stack.pop()
        if depth > VARIABLES_DEPTH_MAX:
            raise BadRequest(f"variables are nested deeper than {VARIABLES_DEPTH_MAX} levels")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return value
