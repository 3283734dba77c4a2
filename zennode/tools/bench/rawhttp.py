"""A minimal HTTP/1.1 keep-alive JSON client for load generation.

Why not httpx: under a few thousand requests per second httpx's connection pool costs more
CPU than the node serving the requests (profiled: `_assign_requests_to_connections`), so the
benchmark would measure its own client. This client keeps one connection per caller, writes
one request, reads one `Content-Length` response: nothing more, and only for our own node.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

HEADER_BYTES_MAX = 16 * 1024
BODY_BYTES_MAX = 1024 * 1024


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection; not shared between tasks."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, limit=HEADER_BYTES_MAX
        )

    async def post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        """POST a JSON body; (status, response body). Reconnects once if the server closed."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        for attempt in range(2):
            if self._writer is None:
                await self._open()
            try:
                assert self._writer is not None
                self._writer.write(head + payload)
                return await self._read_response()
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        raise HttpError("unreachable")

    async def _read_response(self) -> tuple[int, bytes]:
        assert self._reader is not None
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise HttpError(f"bad status line {lines[0]!r}") from exc
        length = 0
        keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                keep_alive = False
            elif name == "transfer-encoding":
                raise HttpError("chunked responses are not supported by this client")
        if length > BODY_BYTES_MAX:
            raise HttpError(f"response of {length} bytes is over {BODY_BYTES_MAX}")
        body = await self._reader.readexactly(length) if length else b""
        if not keep_alive:
            await self.close()
        return status, body

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
