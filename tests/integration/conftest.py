"""Fixtures: `start_node` starts real nodes (stopped after the test), `client_for` HTTP clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from integration.nodes import NodeThread, node_config
from zennode.node import Node


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., NodeThread]]:
    """Factory: start_node(partitions=2, setup=fn(node)) -> a running NodeThread."""
    started: list[NodeThread] = []

    def start(
        partitions: int = 1, setup: Callable[[Node], None] | None = None, **limits: Any
    ) -> NodeThread:
        config = node_config(tmp_path / f"node{len(started)}", partitions, **limits)
        node = Node(config, serve_grpc=False)
        if setup is not None:
            setup(node)
        runner = NodeThread(node)
        started.append(runner)
        runner.start()
        return runner

    yield start
    for runner in reversed(started):
        runner.stop()


@pytest.fixture
def client_for() -> Iterator[Callable[[NodeThread], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(runner: NodeThread) -> httpx.Client:
        client = httpx.Client(base_url=runner.url, timeout=15.0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
