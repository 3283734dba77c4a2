"""Nodes for tests, on reserved free ports of 127.0.0.1 with bounded start and stop:

- `NodeThread`: a `Node` in this process, on its own asyncio loop in a background thread
  (fast; the test can reach into the node, register handlers, swap partitions).
- `NodeProcess`: a real `zennode start` process, stopped by PID (signals, restarts, logs).

Local clusters of node processes are in `support.cluster`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from support.ports import reserve_node
from support.waits import wait_until
from zennode.config import Config, default_config
from zennode.event_loop import loop_factory
from zennode.node import Node

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 10.0


def node_config(data_dir: Path, partitions: int = 1, **limits: Any) -> Config:
    """The default single-node config with `partitions`, data in `data_dir`, `limits` applied,
    on a reserved `--port-base` (held until the test ends, so a restart finds it free)."""
    config = default_config()
    config = dataclasses.replace(
        config,
        partitions=partitions,
        limits=dataclasses.replace(config.limits, **limits),
    )
    base = reserve_node(partitions).base
    return config.with_overrides(data_dir=str(data_dir), port_base=base)


class NodeThread:
    """A `Node` serving on its own asyncio loop in a daemon thread.

    `call(coro)` runs a coroutine on the node's loop and blocks for its result; from a test's
    own event loop use `await acall(coro)` (and the async shortcuts below) instead.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        # The loop the node's config names (uvloop by default), as `Node.run` would use.
        self.loop = loop_factory(node.config.event_loop)()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.node.config.ports.http}"

    @property
    def address(self) -> str:
        """The public gRPC address (job stream, Zeebe gateway)."""
        return f"127.0.0.1:{self.node.config.ports.grpc}"

    def start(self, ready: bool = True) -> NodeThread:
        """Start the node; with `ready`, wait (bounded) until every local partition has a
        leader — for a single-member node, until it leads them all itself."""
        self._thread.start()
        self.call(self.node.start(), timeout=READY_TIMEOUT_S)
        if ready:
            wait_until(self._ready, READY_TIMEOUT_S, "the node to be ready", interval_s=0.02)
        return self

    def _ready(self) -> bool:
        if not self.node.service.is_ready():
            return False
        if len(self.node.config.members) > 1:
            return True
        return all(p.is_leader for p in self.node.cluster.local_partitions.values())

    def call(self, coro: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def acall(self, coro: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def stop(self) -> None:
        try:
            self.call(self.node.stop(), timeout=STOP_TIMEOUT_S)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()

    # Shortcuts for tests that drive the node from their own loop.

    async def deploy(self, xml: str) -> dict[str, Any]:
        return await self.acall(self.node.service.deploy(xml.encode()))

    async def start_instance(self, process_id: str, variables: Any = None) -> int:
        result = await self.acall(
            self.node.service.create_instance(bpmn_process_id=process_id, variables=variables or {})
        )
        return int(result["processInstanceKey"])

    async def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        result = await self.acall(self.node.service.list_jobs(page=1, size=100, **filters))
        return [job for part in result["partitions"] for job in part["items"]]

    async def instance(self, key: int) -> dict[str, Any]:
        return await self.acall(self.node.service.get_instance(key))


class NodeProcess:
    """`python -m zennode.cli start` on `port_base` (default: a reserved one), output in `log`.

    `start()` waits (bounded) for /system/health/ready and fails with the log if the process
    exits first; `stop()` sends a signal and waits for the exit code; the process is killed by
    PID whatever happens (`with NodeProcess(...) as node:`).
    """

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        *args: str,
        port_base: int | None = None,
        partitions: int = 1,
    ) -> None:
        self.data_dir = data_dir
        self.log = log
        self.args = args
        self.port_base = port_base if port_base is not None else reserve_node(partitions).base
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port_base}"

    def start(self) -> NodeProcess:
        command = [sys.executable, "-m", "zennode.cli", "start", "--data-dir", str(self.data_dir)]
        command += ["--port-base", str(self.port_base), *self.args]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, READY_TIMEOUT_S, "zennode to be ready")
        except AssertionError as exc:
            self.kill()
            raise AssertionError(f"{exc}; log:\n{self._tail()}") from None
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"zennode exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.url}/system/health/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send `signum` and wait for the exit; the exit code (SIGKILL after `timeout_s`)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.process.returncode)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _tail(self, chars: int = 4000) -> str:
        return self.output()[-chars:] if self.log.exists() else ""

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
