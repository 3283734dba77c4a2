"""Fixtures: `secure_node(tokens=..., tls=...)` starts a real node (REST + gRPC) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.nodes import NodeThread, node_config

from security.certs import self_signed
from zennode.config import Auth, Tls
from zennode.node import Node


@pytest.fixture
def secure_node(tmp_path: Path) -> Iterator[Callable[..., NodeThread]]:
    """Factory: `secure_node(tokens=("t",), tls=True, **limits)`; stopped after the test.

    With `tls=True` the node's certificate is at `runner.cert_file` (self-signed, 127.0.0.1).
    """
    started: list[NodeThread] = []

    def start(tokens: tuple[str, ...] = (), tls: bool = False, **limits: Any) -> NodeThread:
        directory = tmp_path / f"node{len(started)}"
        directory.mkdir()
        config = node_config(directory / "data", 1, **limits)
        config = dataclasses.replace(config, auth=Auth(tokens=tokens))
        cert_file = None
        if tls:
            cert_file, key_file = self_signed(directory)
            config = dataclasses.replace(
                config, tls=Tls(cert_file=str(cert_file), key_file=str(key_file))
            )
        runner = NodeThread(Node(config))
        runner.cert_file = cert_file  # type: ignore[attr-defined]
        started.append(runner)
        runner.start()
        return runner

    yield start
    for runner in reversed(started):
        runner.stop()
