"""One exception hierarchy for the whole node.

Every layer raises these; the REST and gRPC layers map them to a status in one table
(`HTTP_STATUS` / `GRPC_CODE` below) instead of deciding per handler. Engine errors are
deterministic values: the same command on every replica raises the same error.
"""

from __future__ import annotations


class ZennodeError(Exception):
    """Base class. `code` is a stable machine-readable name sent to API clients."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class BadRequest(ZennodeError):
    """The input is malformed or not allowed (HTTP 400, gRPC INVALID_ARGUMENT)."""

    code = "BAD_REQUEST"


class NotFound(ZennodeError):
    """An unknown key or name (HTTP 404, gRPC NOT_FOUND)."""

    code = "NOT_FOUND"


class InvalidState(ZennodeError):
    """The target exists but is in a state that forbids the command (HTTP 409)."""

    code = "CONFLICT"


class AlreadyExists(InvalidState):
    """A duplicate of something that must be unique (HTTP 409, gRPC ALREADY_EXISTS)."""

    code = "ALREADY_EXISTS"


class TooLarge(ZennodeError):
    """A payload over a configured limit (HTTP 413, gRPC INVALID_ARGUMENT)."""

    code = "TOO_LARGE"


class Unavailable(ZennodeError):
    """No leader for a partition, or the node is shutting down (HTTP 503, gRPC UNAVAILABLE)."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, partition_id: int | None = None) -> None:
        super().__init__(message)
        self.partition_id = partition_id


class Backpressure(Unavailable):
    """A partition's command queue is full (HTTP 503 + Retry-After, gRPC RESOURCE_EXHAUSTED)."""

    code = "RESOURCE_EXHAUSTED"


class IdempotencyConflict(ZennodeError):
    """An `Idempotency-Key` reused for a different request (HTTP 422, gRPC INVALID_ARGUMENT)."""

    code = "IDEMPOTENCY_KEY_REUSED"


class ConfigError(ZennodeError):
    """A configuration problem found at start-up; the CLI prints it and exits with status 2."""

    code = "CONFIG"


# API layers look statuses up here, never decide them per handler.
HTTP_STATUS: dict[type[ZennodeError], int] = {
    BadRequest: 400,
    NotFound: 404,
    InvalidState: 409,
    AlreadyExists: 409,
    TooLarge: 413,
    Unavailable: 503,
    Backpressure: 503,
    IdempotencyConflict: 422,
    ConfigError: 500,
    ZennodeError: 500,
}

GRPC_CODE: dict[type[ZennodeError], str] = {
    BadRequest: "INVALID_ARGUMENT",
    NotFound: "NOT_FOUND",
    InvalidState: "FAILED_PRECONDITION",
    AlreadyExists: "ALREADY_EXISTS",
    TooLarge: "INVALID_ARGUMENT",
    Unavailable: "UNAVAILABLE",
    Backpressure: "RESOURCE_EXHAUSTED",
    IdempotencyConflict: "INVALID_ARGUMENT",
    ConfigError: "INTERNAL",
    ZennodeError: "INTERNAL",
}


def _lookup(table: dict[type[ZennodeError], object], error: ZennodeError) -> object:
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return table[ZennodeError]


def http_status(error: ZennodeError) -> int:
    return int(_lookup(HTTP_STATUS, error))  # type: ignore[arg-type]


def grpc_code_name(error: ZennodeError) -> str:
    return str(_lookup(GRPC_CODE, error))


_BY_CODE: dict[str, type[ZennodeError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        NotFound,
        InvalidState,
        AlreadyExists,
        TooLarge,
        Unavailable,
        Backpressure,
        IdempotencyConflict,
        ConfigError,
        ZennodeError,
    )
}


def error_from_dict(data: dict[str, str]) -> ZennodeError:
    """Rebuild an error sent between nodes or stored as a command result."""
    cls = _BY_CODE.get(data.get("code", ""), ZennodeError)
    return cls(data.get("message", ""))
