"""Run every deployable corpus model with an automatic worker; no command may fail.

Each model starts with no variables and every job is completed with none, so models whose
gateways need input stop at an incident: that is expected and counted, not a failure. Run with
`-s` for the table (completed / incident by type / still waiting).
"""

from __future__ import annotations

from collections import Counter

import pytest

from zennode.engine import Engine, queries
from zennode.engine.storage import MemoryStore

from .test_corpus_deploy import CORPUS, FILES

ROUNDS_MAX = 100  # one job completed per round, state listed again after each


@pytest.mark.skipif(not FILES, reason=f"no corpus at {CORPUS}")
def test_deployable_corpus_models_run_without_command_errors() -> None:
    engine = Engine(partition_id=1)
    store = MemoryStore()
    now = 0

    def apply(command: dict) -> dict:
        nonlocal now
        now += 1
        with store.write() as txn:
            outcome = engine.apply(txn, {**command, "now_ms": now})
        assert outcome.ok, (command, outcome.error)
        return outcome.result or {}

    table: Counter[str] = Counter()
    for path in FILES:
        with store.write() as txn:
            deployed = engine.apply(txn, {"type": "deploy", "now_ms": now, "xml": path.read_text()})
        if not deployed.ok:
            continue
        for process in deployed.result["processes"]:  # type: ignore[index]
            model = engine._models[process["processDefinitionKey"]].process
            if model.start is None:
                continue  # started by a timer or a message only
            created = apply(
                {"type": "create_instance", "processDefinitionKey": process["processDefinitionKey"]}
            )
            key = created["processInstanceKey"]
            for _ in range(ROUNDS_MAX):
                with store.read() as txn:
                    jobs, _ = queries.list_jobs(txn, instance_key=key, limit=1000)
                open_jobs = [j for j in jobs if j["state"] in ("active", "activated")]
                if not open_jobs:
                    break
                apply({"type": "complete_job", "jobKey": open_jobs[0]["key"], "variables": {}})
            with store.read() as txn:
                view = queries.get_instance(txn, key)
                incidents, _ = queries.list_incidents(
                    txn, instance_key=key, incident_state="active"
                )
            if view["state"] == "completed":
                table["completed"] += 1
            elif incidents:
                table[f"incident {incidents[0]['errorType']}"] += 1
            else:
                # models that loop back to a task (e.g. until a variable changes) keep going
                table[f"{view['state']}, jobs still open after {ROUNDS_MAX} rounds"] += 1
    print("\ncorpus run (no variables, every job completed with none):")
    for outcome, count in table.most_common():
        print(f"{count:>5}  {outcome}")
    assert table["completed"] > 0
