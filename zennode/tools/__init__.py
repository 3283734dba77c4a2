"""Tooling that is not part of the running node: conformance runners and benchmarks."""
