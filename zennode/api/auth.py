"""API authentication (bearer tokens) and TLS for the public ports: REST and public gRPC.

Off by default: the embedded config binds to 127.0.0.1 and has no tokens. As soon as a token is
configured (`auth.tokens` in the YAML, or `ZENNODE_API_TOKENS=a,b` in the environment) every
REST request and every public gRPC call must carry `authorization: Bearer <token>`. Exempt, so
that orchestrators and load balancers can probe without a secret:

- REST `/system/health/live` and `/system/health/ready` (they reveal nothing but UP/DOWN);
- REST `/console` and `/console/*`: the web console's static files (HTML, JS, CSS, vendored
  libraries) hold no data; the console asks for a token and sends it on every API call;
- gRPC `grpc.health.v1.Health/*` (same reason).

`/metrics` is NOT exempt: metric labels name job types and partitions. Prometheus sends a
bearer token with `authorization: {credentials_file: ...}` in its scrape config.

Tokens are compared in constant time against every configured token, so the response time
does not tell how much of a guess was right. The internal node-to-node port has its own
secret (`zennode/cluster/server.py`); the Raft ports use PySyncObj's password.

TLS: with `tls.cert_file` and `tls.key_file` set, uvicorn serves HTTPS and the public gRPC port
uses `grpc.ssl_server_credentials`. Without TLS, tokens cross the network in clear text: use
both when the node is reachable from other hosts (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import ssl
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import grpc

from zennode.errors import ConfigError

TOKENS_ENV = "ZENNODE_API_TOKENS"
AUTH_HEADER = "authorization"
REST_PUBLIC_PATHS = frozenset({"/system/health/live", "/system/health/ready", "/console"})
REST_PUBLIC_PREFIXES = ("/console/",)  # the console's static files (no data in them)
GRPC_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/",)
TOKEN_BYTES_MAX = 4096  # a longer header is refused before any comparison
DRAIN_S = 0.05  # a refused stream takes what already arrived for this long ...
DRAIN_REQUESTS_MAX = 16  # ... and at most this many requests


def api_tokens(config: Any, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The configured tokens plus those in `ZENNODE_API_TOKENS` (comma separated)."""
    env = os.environ if environ is None else environ
    from_env = [t.strip() for t in env.get(TOKENS_ENV, "").split(",") if t.strip()]
    tokens = [*config.auth.tokens, *from_env]
    return tuple(dict.fromkeys(tokens))  # dedupe, keep order


class TokenChecker:
    """Constant-time check of an `authorization` header value against a set of tokens."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens]
        if not self._tokens:
            raise ValueError("TokenChecker needs at least one token")

    def check(self, header: str | bytes | None) -> str | None:
        """None when `header` is `Bearer <a configured token>`, else why it is refused."""
        if header is None:
            return "missing authorization: send 'authorization: Bearer <token>'"
        raw = header.encode() if isinstance(header, str) else header
        if len(raw) > TOKEN_BYTES_MAX:
            return "authorization header too long"
        scheme, _, given = raw.partition(b" ")
        if scheme.lower() != b"bearer" or not given.strip():
            return "authorization must be 'Bearer <token>'"
        given = given.strip()
        matched = False
        for token in self._tokens:  # no early exit: same work whichever token matches
            matched |= hmac.compare_digest(given, token)
        return None if matched else "invalid token"


# ---------------------------------------------------------------------------------- REST


class BearerAuthMiddleware:
    """Pure ASGI middleware: 401 `{code: UNAUTHENTICATED, message}` without a valid token.

    Pure ASGI (not BaseHTTPMiddleware) so it adds no task per request on the hot path.
    """

    def __init__(self, app: Any, checker: TokenChecker) -> None:
        self.app = app
        self.checker = checker

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        path = scope.get("path") or ""
        if (
            kind not in ("http", "websocket")
            or path in REST_PUBLIC_PATHS
            or path.startswith(REST_PUBLIC_PREFIXES)
        ):
            await self.app(scope, receive, send)  # lifespan, health probes, console files
            return
        header = None
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                header = value
                break
        reason = self.checker.check(header)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if kind == "websocket":  # none today; refused all the same (1008: policy violation)
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"code": "UNAUTHENTICATED", "message": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="zennode"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install_rest_auth(app: Any, config: Any) -> bool:
    """Add the bearer-token middleware when tokens are configured; True if it did."""
    tokens = api_tokens(config)
    if not tokens:
        return False
    app.add_middleware(BearerAuthMiddleware, checker=TokenChecker(tokens))
    return True


def uvicorn_ssl_options(config: Any) -> dict[str, str]:
    """`uvicorn.Config` keyword arguments for TLS (empty without a certificate)."""
    if config.tls.cert_file is None:
        return {}
    cert, key = _readable(config.tls.cert_file), _readable(config.tls.key_file)
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def api_request(config: Any, host: str, port: int, path: str) -> tuple[Any, ssl.SSLContext | None]:
    """A urllib request to a node's REST API as this config's own tools (`zennode status`)
    make it: https when TLS is configured (trusting `tls.cert_file` besides the system CAs)
    and the first API token, if any."""
    scheme = "https" if config.tls.cert_file else "http"
    headers = {}
    tokens = api_tokens(config)
    if tokens:
        headers["authorization"] = f"Bearer {tokens[0]}"
    context = None
    if config.tls.cert_file:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(_readable(config.tls.cert_file)))
    request = urllib.request.Request(f"{scheme}://{host}:{port}{path}", headers=headers)
    return request, context


# ---------------------------------------------------------------------------------- gRPC


async def drain_requests(requests: Any) -> None:
    """Take the requests that already arrived (bounded, briefly) before refusing a client
    stream: a client whose write is in flight when the call ends otherwise sees INTERNAL
    ("Internal error from Core") instead of the status the server set. Refuse with
    `context.set_code` / `set_details` afterwards, not `context.abort`."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_S):
            for _ in range(DRAIN_REQUESTS_MAX):
                await anext(requests)


def _abort_handler(handler: grpc.RpcMethodHandler, reason: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call with UNAUTHENTICATED."""

    def refuse(context: grpc.aio.ServicerContext) -> None:
        context.set_code(grpc.StatusCode.UNAUTHENTICATED)
        context.set_details(reason)

    async def unary(_request: Any, context: grpc.aio.ServicerContext) -> None:
        refuse(context)

    async def unary_stream(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        refuse(context)
        return
        yield  # pragma: no cover - makes this an async generator; it sends nothing

    async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> None:
        await drain_requests(requests)
        refuse(context)

    async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await drain_requests(requests)
        refuse(context)
        return
        yield  # pragma: no cover - makes this an async generator; it sends nothing

    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary, des, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(unary_stream, des, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(stream_unary, des, ser)
    return grpc.stream_stream_rpc_method_handler(stream_stream, des, ser)


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call without `authorization: Bearer <token>` metadata (UNAUTHENTICATED).

    One interceptor on the server covers every service on the public port: ZenBpm, Zeebe's
    Gateway and whatever is added later; only the gRPC health service is exempt.
    """

    def __init__(self, checker: TokenChecker) -> None:
        self.checker = checker

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or method.startswith(GRPC_PUBLIC_PREFIXES):
            return handler
        header = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == AUTH_HEADER:
                header = value
                break
        reason = self.checker.check(header)
        if reason is None:
            return handler
        return _abort_handler(handler, reason)


def grpc_interceptors(config: Any) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors for the public gRPC server (empty without tokens)."""
    tokens = api_tokens(config)
    return [BearerAuthInterceptor(TokenChecker(tokens))] if tokens else []


def grpc_server_credentials(config: Any) -> grpc.ServerCredentials | None:
    """TLS credentials for the public gRPC port, or None for a plain port."""
    if config.tls.cert_file is None:
        return None
    cert = _readable(config.tls.cert_file).read_bytes()
    key = _readable(config.tls.key_file).read_bytes()
    return grpc.ssl_server_credentials([(key, cert)])


def _readable(path: str | None) -> Path:
    if path is None:
        raise ConfigError("tls: set both cert_file and key_file")
    file = Path(path)
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"tls: cannot read {path}: {exc.strerror}") from exc
    return file
