"""Benchmarks behind `scripts/bench`: engine (in process), node (one node process + SDK workers).

Each benchmark returns a flat dict of results; `report` prints it as one JSON line and a table,
so numbers in docs/benchmarks.md can be re-measured on any machine.
"""
