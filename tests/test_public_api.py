"""The package's public surface (`zennode/__init__.py`): lazy, and the names STYLE.md lists."""

from __future__ import annotations

import subprocess
import sys

import pytest

import zennode


def test_public_names_are_the_real_classes() -> None:
    from zennode.jobs import JobError
    from zennode.node import Node
    from zennode.worker import Worker

    assert zennode.Node is Node
    assert zennode.Worker is Worker
    assert zennode.JobError is JobError
    assert set(zennode.__all__) >= {"Node", "Worker", "JobError", "Config", "load_config"}


def test_importing_zennode_does_not_import_grpc() -> None:
    """A library user who only embeds a Node pays for grpc only when something needs it."""
    code = (
        "import sys, zennode\n"
        "assert 'grpc' not in sys.modules, 'import zennode pulled in grpc'\n"
        "worker = zennode.Worker\n"
        "assert 'grpc' in sys.modules and worker.__module__ == 'zennode.worker'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        zennode.NoSuchThing  # noqa: B018
