"""zennode: a clustered BPMN 2.0 process engine.

What users touch: `Node` (run a node, register internal job handlers), `Worker` (an external
worker over the gRPC JobStream), `JobError` (fail a job with a BPMN error code), `Config` /
`load_config`. Imported lazily so that `import zennode.engine` stays light and free of import
cycles, and a library user who never touches `Worker` does not import grpc for it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Config", "JobError", "Node", "Worker", "load_config"]


def __getattr__(name: str) -> Any:
    if name == "Node":
        from zennode.node import Node

        return Node
    if name == "Worker":
        from zennode.worker import Worker

        return Worker
    if name == "JobError":
        from zennode.jobs import JobError

        return JobError
    if name in ("Config", "load_config"):
        from zennode import config

        return getattr(config, name)
    raise AttributeError(f"module 'zennode' has no attribute {name!r}")
