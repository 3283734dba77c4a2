"""Fixtures: `secure_node(tokens=..., tls=...)` starts a real node (REST + gRPC) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.nodes import NodeThread

from security.certs import self_signed
from zennode.config import Auth, Config, Tls


@pytest.fixture
def secure_node(start_node: Callable[..., NodeThread], tmp_path: Path) -> Callable[..., NodeThread]:
    """Factory: `secure_node(tokens=("t",), tls=True, **limits)`; stopped after the test.

    With `tls=True` the node's certificate is at `runner.cert_file` (self-signed, 127.0.0.1).
    """
    numbers = itertools.count()

    def start(tokens: tuple[str, ...] = (), tls: bool = False, **limits: Any) -> NodeThread:
        changes: dict[str, Any] = {"auth": Auth(tokens=tokens)}
        cert_file = None
        if tls:
            directory = tmp_path / f"certs{next(numbers)}"
            directory.mkdir()
            cert_file, key_file = self_signed(directory)
            changes["tls"] = Tls(cert_file=str(cert_file), key_file=str(key_file))

        def configure(config: Config) -> Config:
            return dataclasses.replace(config, **changes)

        runner = start_node(1, configure=configure, serve_grpc=True, **limits)
        runner.cert_file = cert_file  # type: ignore[attr-defined]
        return runner

    return start
