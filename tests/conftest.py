"""Suite-wide fixtures and policy.

No test is re-run on failure: a flaky test is a bug to find, not a retry to add. The one-off
Raft port race that once justified re-running server tests was two test runs on one machine
picking the same free port; ports are now reserved machine-wide (docs/testing.md).
"""

from __future__ import annotations

from support.fixtures import client_for, start_node  # noqa: F401 - fixtures for every folder
from support.ports import release_test_ports  # noqa: F401 - autouse: every test
