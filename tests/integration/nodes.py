"""Helpers that start real nodes for integration tests: free ports on 127.0.0.1, bounded waits."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zennode.config import PORT_OFFSET_RAFT_BASE, Config, default_config
from zennode.node import Node

READY_TIMEOUT_S = 20.0


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(partitions: int) -> int:
    """A base N whose whole `--port-base` layout (N..N+2, N+11..N+10+P) is free now."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000, 20)
        wanted = [base, base + 1, base + 2]
        wanted += [base + PORT_OFFSET_RAFT_BASE + p for p in range(1, partitions + 1)]
        if all(_port_free(p) for p in wanted):
            return base
    raise RuntimeError("no free port range found")


def node_config(data_dir: Path, partitions: int = 1, **limits: Any) -> Config:
    config = default_config()
    config = dataclasses.replace(
        config,
        partitions=partitions,
        limits=dataclasses.replace(config.limits, **limits),
    )
    return config.with_overrides(data_dir=str(data_dir), port_base=free_port_base(partitions))


class NodeThread:
    """A `Node` serving on its own asyncio loop in a background thread."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.node.config.ports.http}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.node.start(), self.loop).result(READY_TIMEOUT_S)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.node.service.is_ready():
            if time.monotonic() > deadline:
                raise TimeoutError("node did not become ready")
            time.sleep(0.05)

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.node.stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


def wait_until(check: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)
