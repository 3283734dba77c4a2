"""Error mapping and the request size limit for the REST API.

Every error leaves as JSON `{code, message}` with the status from `errors.http_status()`.
FastAPI's own validation errors become 400 (not 422) and unknown routes 404, so a client
sees one error shape. Only a real bug (an exception that is not a `ZennodeError`) gives a 500,
and it is logged with its traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zennode.errors import Backpressure, TooLarge, Unavailable, ZennodeError, http_status

log = logging.getLogger("zennode.api.rest")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def error_response(error: ZennodeError) -> JSONResponse:
    status = http_status(error)
    body: dict[str, Any] = error.to_dict()
    headers: dict[str, str] = {}
    if isinstance(error, Unavailable) and error.partition_id is not None:
        body["partition"] = error.partition_id
    if isinstance(error, Backpressure):
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ZennodeError)
    async def zennode_error(_: Request, exc: ZennodeError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"code": "BAD_REQUEST", "message": _validation_message(exc)}, status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        return JSONResponse(
            {"code": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("bug: unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"code": "INTERNAL", "message": f"internal error ({type(exc).__name__})"},
            status_code=500,
        )


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, before they are buffered.

    A declared Content-Length over the limit is refused at once; a chunked body is counted
    as it streams and cut off with `TooLarge` (mapped to 413 by the handlers above).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(send, declared)
                    return
        received = 0
        limit = self.max_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(f"request body is over the limit of {limit} bytes")
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send, declared: int) -> None:
        if declared < 0:
            status, body = 400, {"code": "BAD_REQUEST", "message": "invalid Content-Length"}
        else:
            status = 413
            body = {
                "code": TooLarge.code,
                "message": f"request body of {declared} bytes is over the limit of "
                f"{self.max_bytes} bytes",
            }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
