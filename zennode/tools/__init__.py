"""Tooling that is not part of a running node: benchmarks, TCK runners, the local cluster
launcher and failover measurement.

Runtime modules (everything else under `zennode/`) never import this package — an
import-linter contract in pyproject.toml checks it — so a node does not load load generators
or test-suite runners. `scripts/` and the tests use it.
"""
