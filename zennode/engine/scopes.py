"""Variable scopes as Zeebe has them, over one instance record.

The process instance is the root scope (`instance["variables"]`). Every element instance of
the record (`instance["elements"]`: sub-processes, event sub-processes, multi-instance bodies
and iterations, tasks, catch events, call activities) is a scope nested in the scope it runs
in (`record["scope"]`); its local variables are `record["locals"]`, absent while it has none.
The scopes die with their element instances, so nothing else has to clean them up.

- **Reading**: an expression in scope S sees the root's variables overlaid with the locals of
  every scope from the root down to S (`visible`); an inner variable hides an outer one.
- **Writing** (`merge`, Zeebe's propagation): each variable goes to the nearest scope, from S
  outwards, that already has a variable of that name; if none has, to the root.
- **Local writes** (`set_local`): into S itself whether or not it has the variable (input
  mappings, `SetVariables` with `local`, multi-instance input element and loop counter).

Pure functions over plain dicts: the runner and the queries share them.
"""

from __future__ import annotations

from typing import Any

DEPTH_MAX = 10_000  # scopes never nest this deep (call depth and the parser bound it); a guard


def chain(instance: dict[str, Any], scope: int) -> list[dict[str, Any]]:
    """The element-instance records from `scope` outwards to (not including) the root."""
    elements = instance["elements"]
    root = instance["processInstanceKey"]
    found: list[dict[str, Any]] = []
    while scope != root and len(found) < DEPTH_MAX:
        record = elements.get(str(scope))
        if record is None:
            break
        found.append(record)
        scope = record["scope"]
    return found


def visible(
    instance: dict[str, Any], scope: int, hide: tuple[int, frozenset[str]] | None = None
) -> dict[str, Any]:
    """The variables an expression in `scope` sees (the root's dict itself when no scope on
    the way has locals: callers must not mutate the result).

    `hide` = (scope key, names): those locals of that scope are left out, so the variable of
    the same name further out shows (re-evaluating input mappings that wrote them)."""
    root: dict[str, Any] = instance["variables"]
    if scope == instance["processInstanceKey"]:
        return root
    layers: list[dict[str, Any]] = []
    for record in chain(instance, scope):
        local = record.get("locals")
        if local:
            layers.append(local)
    if hide is not None:
        hidden_record = instance["elements"].get(str(hide[0]))
        hidden = hidden_record.get("locals") if hidden_record else None
        names = hide[1]
        layers = [
            {k: v for k, v in layer.items() if k not in names} if layer is hidden else layer
            for layer in layers
        ]
    if not layers:
        return root
    merged = dict(root)
    for layer in reversed(layers):
        merged.update(layer)
    return merged


def merge(instance: dict[str, Any], scope: int, variables: dict[str, Any]) -> None:
    """Zeebe's propagation: each variable updates the nearest scope (from `scope` outwards)
    that has it, else it is created in the root scope."""
    if not variables:
        return
    holders = [r["locals"] for r in chain(instance, scope) if r.get("locals")]
    root: dict[str, Any] = instance["variables"]
    for name, value in variables.items():
        for local in holders:
            if name in local:
                local[name] = value
                break
        else:
            root[name] = value


def set_local(instance: dict[str, Any], scope: int, variables: dict[str, Any]) -> None:
    """Create or update `variables` in `scope` itself (the root when `scope` is the instance)."""
    if not variables:
        return
    if scope == instance["processInstanceKey"]:
        instance["variables"].update(variables)
        return
    record = instance["elements"][str(scope)]
    record.setdefault("locals", {}).update(variables)


def delete(instance: dict[str, Any], scope: int, name: str) -> bool:
    """Remove the variable `name` from the nearest scope (from `scope` outwards) that has it;
    False when no scope has it."""
    for record in chain(instance, scope):
        local = record.get("locals")
        if local and name in local:
            del local[name]
            if not local:
                del record["locals"]
            return True
    root: dict[str, Any] = instance["variables"]
    if name in root:
        del root[name]
        return True
    return False
