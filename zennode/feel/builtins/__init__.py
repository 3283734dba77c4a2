"""The built-in function library, one module per family, merged into `BUILTINS` by name."""

from __future__ import annotations

from ..values import Function
from . import boolean, camunda, contexts, lists, numeric, ranges, strings, temporal_fns

BUILTINS: dict[str, Function] = {
    fn.name: fn
    for module in (boolean, strings, lists, numeric, contexts, temporal_fns, ranges, camunda)
    for fn in module.FUNCTIONS
}
