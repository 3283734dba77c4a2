"""What crosses the internal gRPC service: JSON documents, errors as dicts, the secret header.

Errors keep their class across the wire, including the two kinds of `Unavailable` whose
difference matters for a retry: `NotCommitted` (certainly not applied: the sender may re-route
and retry) and `OutcomeUnknown` (may be applied: the caller must decide).
"""

from __future__ import annotations

import json
from typing import Any

from zennode.cluster.batcher import NotCommitted, OutcomeUnknown
from zennode.errors import Unavailable, ZennodeError, error_from_dict

SECRET_HEADER = "x-zennode-secret"
KIND_NOT_COMMITTED = "not_committed"
KIND_OUTCOME_UNKNOWN = "outcome_unknown"


class PeerUnreachable(NotCommitted):
    """A peer could not be reached (or a read / role poll to it failed): nothing was applied
    there, so the request may be re-routed and retried."""

    def __init__(self, message: str, partition_id: int | None, node_id: int) -> None:
        super().__init__(message, partition_id)
        self.node_id = node_id


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def loads(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def error_to_dict(error: ZennodeError) -> dict[str, Any]:
    data: dict[str, Any] = error.to_dict()
    if isinstance(error, Unavailable):
        data["partition"] = error.partition_id
        if isinstance(error, NotCommitted):
            data["kind"] = KIND_NOT_COMMITTED
        elif isinstance(error, OutcomeUnknown):
            data["kind"] = KIND_OUTCOME_UNKNOWN
    return data


def error_from_wire(data: dict[str, Any]) -> ZennodeError:
    """The error a peer reported, as the same class (and partition) it had there."""
    message = str(data.get("message", ""))
    partition = data.get("partition")
    kind = data.get("kind")
    if kind == KIND_NOT_COMMITTED:
        return NotCommitted(message, partition)
    if kind == KIND_OUTCOME_UNKNOWN:
        return OutcomeUnknown(message, partition)
    error = error_from_dict({"code": str(data.get("code", "")), "message": message})
    if isinstance(error, Unavailable):
        error.partition_id = partition
    return error
