"""The HTTP port: the REST app (`api/rest`) served by uvicorn on the node's own asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from zennode.config import Config
from zennode.errors import ConfigError


class HttpServer:
    """uvicorn on a socket bound here (so a bind error is a clear ConfigError at start)."""

    def __init__(self, app: Any, config: Config) -> None:
        self._app = app
        self._config = config
        self._server: Any = None
        self._socket: socket.socket | None = None

    async def start(self) -> None:
        import uvicorn

        from zennode.api.auth import uvicorn_ssl_options

        host, port = self._config.host, self._config.ports.http
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it a keep-alive response waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"port {port} (http) on {host} is in use: {exc.strerror}") from exc
        sock.listen(1024)
        sock.setblocking(False)
        self._socket = sock
        uv_config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=3,
            **uvicorn_ssl_options(self._config),  # HTTPS when tls.cert_file/key_file are set
        )
        uv_config.load()
        server = uvicorn.Server(uv_config)
        server.lifespan = uv_config.lifespan_class(uv_config)
        await server.startup(sockets=[sock])
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.shutdown(), timeout=5)
            self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
