"""Pure, deterministic BPMN engine: no sockets, threads, clocks or LMDB in here.

`Engine` is imported lazily so that `zennode.engine.keys` / `.storage` stay importable without
pulling in the parser and FEEL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zennode.engine.engine import Engine

__all__ = ["Engine"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from zennode.engine.engine import Engine

        return Engine
    raise AttributeError(name)
