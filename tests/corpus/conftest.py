from __future__ import annotations

import pytest
from engine.helpers import Harness


@pytest.fixture
def h() -> Harness:
    return Harness()
