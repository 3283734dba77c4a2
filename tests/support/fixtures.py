"""Fixtures every folder may use (imported by tests/conftest.py): nodes in this process and
HTTP clients for them, all stopped or closed when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.nodes import NodeThread, node_config
from support.rest import RestClient
from zennode.config import Config
from zennode.node import Node


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., NodeThread]]:
    """Factory: `start_node(partitions=2, setup=fn(node), **limits)` -> a running NodeThread
    serving REST (and gRPC with `serve_grpc=True`); `configure` may change the config (auth,
    TLS), `setup` runs before the start (register task handlers there)."""
    started: list[NodeThread] = []

    def start(
        partitions: int = 1,
        setup: Callable[[Node], None] | None = None,
        configure: Callable[[Config], Config] | None = None,
        serve_grpc: bool = False,
        **limits: Any,
    ) -> NodeThread:
        config = node_config(tmp_path / f"node{len(started)}", partitions, **limits)
        if configure is not None:
            config = configure(config)
        node = Node(config, serve_grpc=serve_grpc)
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
def client_for() -> Iterator[Callable[[NodeThread], RestClient]]:
    """Factory: `client_for(runner)` -> a `RestClient` on the node's REST URL."""
    clients: list[RestClient] = []

    def make(runner: NodeThread) -> RestClient:
        client = RestClient(base_url=runner.url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
