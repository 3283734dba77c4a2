"""Where the client tests keep what they install from npm."""

from __future__ import annotations

from pathlib import Path

import pytest


def install_dir(request: pytest.FixtureRequest, name: str) -> Path:
    """A folder kept across runs in the pytest cache (a temporary one with -p no:cacheprovider)."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir(name))
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    return factory.mktemp(name)
