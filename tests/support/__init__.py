"""What every test folder shares — one of each, so a fix lands once:

- `ports`: free ports, reserved machine-wide (`zennode.tools.ports`), released per test.
- `waits`: bounded waits (`wait_until`, `eventually`) that say what they waited for.
- `rest`: `RestClient`, an httpx client whose `call` retries 503 for a bounded time.
- `nodes`: `NodeThread` (a node in this process) and `NodeProcess` (`zennode start`).
- `cluster`: `LocalCluster`, real node processes started like `scripts/cluster up`.
- `bpmn`: BPMN element builders and the small models tests deploy.

Importable as `support` because tests/ is on sys.path (tests/conftest.py lives there).
"""
