"""Free ports for tests: the project's one picker, `zennode.tools.ports` (reservations held
machine-wide, so concurrent test runs never pick the same port), and the fixture that returns
a test's reservations when the test is over.

Tests and helpers reserve what they bind (`reserve_node(partitions).base` for a node's
`--port-base`, `reserve_port().address()` for one Raft replica, `reserve_cluster(n, p)` via
`support.cluster`), and keep the reservation for the whole test, so a node that restarts on
its own ports finds them still free. `release_test_ports` (autouse, from tests/conftest.py)
releases at the end of each test whatever the test and its function-scoped fixtures
reserved; broader fixtures release their own (`LocalCluster.close`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zennode.tools.ports import (
    Reservation,
    held_reservations,
    reserve_cluster,
    reserve_node,
    reserve_port,
)

__all__ = ["Reservation", "release_test_ports", "reserve_cluster", "reserve_node", "reserve_port"]


@pytest.fixture(autouse=True)
def release_test_ports() -> Iterator[None]:
    """Autouse fixtures are set up first and torn down last within the function scope, after
    broader-scoped fixtures are up: what is new at the end was reserved by this test."""
    before = held_reservations()
    yield
    for reservation in held_reservations() - before:
        reservation.release()
