"""Variable mappings: input and output mappings evaluated into a document.

Where the document goes (the element's local scope, or propagated outwards) is the caller's
business: see `zennode.engine.scopes` and `Runner.finish`. Mappings apply in document order and
each one sees what the earlier ones produced (Zeebe's ordered output mappings); a dotted target
(`order.id`) updates a copy of the variable it names, so the rest of `order` is kept.
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


def evaluate_mappings(mappings: tuple[Mapping, ...], context: dict[str, Any]) -> dict[str, Any]:
    """The document the mappings make: each source sees `context` overlaid with the results
    of the mappings before it; a mapping without source gives null (raises ExpressionFailed)."""
    result: dict[str, Any] = {}
    for mapping in mappings:
        seen = {**context, **result} if result else context
        value = None if mapping.source is None else evaluate(mapping.source, seen)
        assign_into(result, mapping.target, value, seen)
    return result


def assign_into(document: dict[str, Any], target: str, value: Any, context: dict[str, Any]) -> None:
    """`assign` into a result document; a dotted target starts from the variable's current
    value in `context` so that its other fields survive the merge."""
    head = target.split(".", 1)[0]
    if head != target and head not in document and isinstance(context.get(head), dict):
        document[head] = context[head]  # assign copies the dicts on the path, never mutates
    assign(document, target, value)


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
