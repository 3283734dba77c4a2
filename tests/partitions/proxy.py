"""A transparent TCP proxy that delays traffic between nodes (the kernel here has no netem).

Runs in the lab's hub namespace (`python -m partitions.proxy PORT...`), where packets the
members route via the hub are delivered locally whatever their destination (`netlab`): a
listener with IP_TRANSPARENT on 0.0.0.0:PORT accepts a node's connection to a peer, reads the
peer's address from the accepted socket, and connects to it *from the node's own address*
(IP_TRANSPARENT again), so both ends still see each other's real addresses — PySyncObj
identifies peers by address — and the lab's cut filters keep working.

Each direction passes chunks on after `delay_ms` ± `jitter_ms` (never reordered). Commands,
one JSON object per line on stdin:
    {"delay_ms": 150, "jitter_ms": 50}   set the delay (new and open connections)
    {"reset": true}                      abort every open connection (RST), e.g. on heal
It prints `ready` once listening and one JSON line of counters when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import sys
from typing import Any

IP_TRANSPARENT = 19
SOURCE_PORTS = range(61_000, 65_000)  # outside the nodes' ephemeral range: never a tuple clash
CHUNK_BYTES = 64 * 1024
QUEUED_CHUNKS_MAX = 256  # per direction; a full queue stops reading (backpressure)
CONNECT_TIMEOUT_S = 3.0


class Proxy:
    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.delay_s = 0.0
        self.jitter_s = 0.0
        self.connections: set[tuple[socket.socket, socket.socket]] = set()
        self.counters = {"connections": 0, "chunks": 0, "bytes": 0, "refused": 0}
        self._next_port = iter(SOURCE_PORTS)
        self._servers: list[asyncio.base_events.Server] = []

    async def start(self) -> None:
        for port in self.ports:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
            listener.bind(("0.0.0.0", port))
            listener.listen(128)
            listener.setblocking(False)
            self._servers.append(await asyncio.start_server(self._accept, sock=listener))

    def _source_port(self) -> int:
        try:
            return next(self._next_port)
        except StopIteration:
            self._next_port = iter(SOURCE_PORTS)
            return next(self._next_port)

    async def _connect_as(self, source: str, target: tuple[str, int]) -> socket.socket:
        loop = asyncio.get_running_loop()
        for _attempt in range(20):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
            sock.setblocking(False)
            try:
                sock.bind((source, self._source_port()))
            except OSError:
                sock.close()
                continue
            try:
                await asyncio.wait_for(loop.sock_connect(sock, target), CONNECT_TIMEOUT_S)
            except BaseException:
                sock.close()
                raise
            return sock
        raise OSError("no free source port")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        inbound: socket.socket = writer.get_extra_info("socket")
        source = writer.get_extra_info("peername")[0]
        target = writer.get_extra_info("sockname")  # the peer the node wanted to reach
        try:
            outbound = await self._connect_as(source, target)
        except (OSError, TimeoutError, asyncio.CancelledError):  # cancelled: shutting down
            self.counters["refused"] += 1
            _abort(writer)
            return
        self.counters["connections"] += 1
        out_reader, out_writer = await asyncio.open_connection(sock=outbound)
        pair = (inbound, outbound)
        self.connections.add(pair)
        try:
            await asyncio.gather(self._pump(reader, out_writer), self._pump(out_reader, writer))
        finally:
            self.connections.discard(pair)
            _abort(writer)
            _abort(out_writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, each chunk released `delay` after it arrived, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUED_CHUNKS_MAX)

        async def read() -> None:
            last_due = 0.0
            try:
                while chunk := await reader.read(CHUNK_BYTES):
                    jitter = random.uniform(-self.jitter_s, self.jitter_s)
                    due = max(last_due, loop.time() + max(0.0, self.delay_s + jitter))
                    last_due = due
                    await queue.put((due, chunk))
            except OSError:
                pass
            await queue.put(None)

        async def write() -> None:
            while (item := await queue.get()) is not None:
                due, chunk = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                self.counters["chunks"] += 1
                self.counters["bytes"] += len(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        reading = asyncio.ensure_future(read())
        try:
            await write()
        except OSError:
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    def reset(self) -> None:
        for pair in list(self.connections):
            for sock in pair:
                _rst(sock)
        self.connections.clear()

    def command(self, line: str) -> None:
        order: dict[str, Any] = json.loads(line)
        if "delay_ms" in order:
            self.delay_s = float(order["delay_ms"]) / 1000
            self.jitter_s = min(self.delay_s, float(order.get("jitter_ms", 0)) / 1000)
        if order.get("reset"):
            self.reset()


def _rst(sock: socket.socket) -> None:
    """Close with RST (linger 0), so both ends notice at once."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        _rst(sock)
    writer.transport.abort()


async def main(ports: list[int]) -> None:
    proxy = Proxy(ports)
    await proxy.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := await stdin.readline():
        proxy.command(line.decode())
        print(json.dumps({"ok": line.decode().strip()}), flush=True)
    proxy.reset()
    print(json.dumps(proxy.counters), flush=True)


if __name__ == "__main__":
    asyncio.run(main([int(p) for p in sys.argv[1:]]))
