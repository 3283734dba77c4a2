"""gRPC status codes of the Zeebe gateway: the node's one table plus Zeebe's own cases.

Every `ZennodeError` is mapped through `zennode.errors.grpc_code_name` (unknown key NOT_FOUND,
wrong state FAILED_PRECONDITION, bad input or BPMN INVALID_ARGUMENT, full queue
RESOURCE_EXHAUSTED, no leader UNAVAILABLE). The cases Zeebe has and the node does not are
raised here as `GatewayStatus`: a result that did not come in time (DEADLINE_EXCEEDED) and an
RPC or an option zennode does not support (UNIMPLEMENTED).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from zennode.errors import ZennodeError, grpc_code_name

log = logging.getLogger("zennode.api.zeebe")

T = TypeVar("T")


class GatewayStatus(Exception):
    """End the call with this status (a Zeebe case the node's error table does not cover)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unimplemented(what: str) -> GatewayStatus:
    return GatewayStatus(
        grpc.StatusCode.UNIMPLEMENTED, f"{what} is not supported by zennode's Zeebe gateway"
    )


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and message a failed call ends with."""
    if isinstance(exc, GatewayStatus):
        return exc.code, exc.message
    if isinstance(exc, ZennodeError):
        return grpc.StatusCode[grpc_code_name(exc)], exc.message
    return grpc.StatusCode.INTERNAL, f"internal error: {exc}"


def unary(
    fn: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]]:
    """Wrap a unary RPC: errors end the call with their Zeebe status instead of UNKNOWN."""

    @functools.wraps(fn)
    async def call(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await fn(self, request, context)
        except (ZennodeError, GatewayStatus) as exc:
            code, message = status_of(exc)
            await context.abort(code, message)
        except Exception as exc:
            log.exception("Zeebe gateway %s failed", fn.__name__)
            code, message = status_of(exc)
            await context.abort(code, message)
        raise AssertionError("abort returns only by raising")  # pragma: no cover

    return call
