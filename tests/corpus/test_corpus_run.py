"""Run every deployable corpus model end to end on two in-memory partitions with relays.

Everything the corpus deploys is deployed first (call activities find their callees). Then each
process with a none start event starts with the variables from `START_VARIABLES` (or none) and
is driven until it ends: open jobs are completed by an automatic worker (with
`JOB_VARIABLES` for its job type, or none), messages its instance waits for are published (with
the correlation key the subscription asked for), and when nothing else can move, timers are
shortened by firing the next one with a later `now_ms`. Run with `-s` for the table:
finished / stopped at an incident (type: message) / still waiting (where) / rejected at deploy.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from engine.helpers import Partitions, check_search

from zennode.engine import keys, queries, records

from .test_corpus_deploy import CORPUS, FILES, reasons_of

ROUNDS_MAX = 200
# Start variables: names the corpus models use for collections and correlation keys, given
# to every instance, plus per-process extras (by bpmnProcessId) for gateways that need input.
COMMON_VARIABLES: dict[str, Any] = {
    "items": [1, 2, 3],
    "testInputCollection": [1, 2, 3],
    "orderId": "order-1",
    "clientId": "client-1",
    "correlationKey": "key-1",
    "documentReferenceId": "doc-1",
}
START_VARIABLES: dict[str, dict[str, Any]] = {
    "paymentProcess": {"remainingAmount": 0},
    "TwitterDemoProcess": {"approved": True},
    "processWithGateway": {"goToTaskC": True},
    "demoProcess": {"manualTasks": False},
    "inclusiveGatewayProcess": {"pastaOrdered": True, "saladOrdered": True},
    "benchmark": {"var2": True},
    "bigProcess": {"i": 2, "loopCardinality": 1},
    "complexProcess": {"goUp": 6},
    "CampaignProcess": {"itemList": [1, 2]},
    "HugeCampaignProcess": {"bucketList": [1, 2]},
    "MICallActivityProcess": {"sequence": [1, 2]},
    "MigratedProcessProcess": {"callbackId": "cb-1"},
    "ManualCheck": {"fraudSuspectedId": "f-1"},
    "responseProcess": {"requestId": "r1"},
    "RollbackOnErrorProcess": {"validateDataType": "validate", "saveDataType": "save"},
    "orderProcess": {"paid": "true", "smthIsMissing": "false"},
    "escalationEvents": {"shipping": 3},
    "invoice": {"amount": 100, "invoiceCategory": "Misc"},
    "customer_onboarding_en": {"applicationNumber": "A-1", "product": "account"},
}
JOB_VARIABLES: dict[str, dict[str, Any]] = {"calculateScore": {"creditScore": 800}}
# The decisions the corpus models call (the corpus has no DMN): deployed before the models.
# invoice-decisions.dmn serves zeebe/invoice.bpmn, the other two were written for
# zenbpm/invoice_liquidation.bpmn and bpmn-miwg/C.9.0.bpmn.
DMN_MODELS = Path(__file__).parents[1] / "dmn" / "models"
DECISIONS = ("invoice-decisions.dmn", "invoice-liquidation-decisions.dmn", "risk-check.dmn")


def _open_subscriptions(part: Any) -> list[dict[str, Any]]:
    with part.store.read() as txn:
        return [
            records.loads(raw) for _, raw in txn.scan("subscriptions", records.SUB_PROCESS_SIDE)
        ]


def _next_timer(ps: Partitions) -> int | None:
    due = []
    for part in ps.parts.values():
        with part.store.read() as txn:
            for key, raw in txn.scan("timers"):
                if records.loads(raw)["processInstanceKey"] is not None:  # not a start timer
                    due.append(records.from_u64(key[:8]))
                    break
    return min(due) if due else None


def _step(ps: Partitions) -> bool:
    """Move one thing: a job, a message, or a timer. False when nothing can move."""
    for pid, part in ps.parts.items():
        with part.store.read() as txn:
            jobs, _ = queries.list_jobs(txn, state="active", limit=1)
        if jobs:
            job = jobs[0]
            variables = JOB_VARIABLES.get(job["type"], {})
            ps.ok(pid, "complete_job", jobKey=job["key"], variables=variables)
            return True
    for part in ps.parts.values():
        for sub in _open_subscriptions(part):
            if "signalName" in sub:
                triggered = sum(
                    ps.ok(p, "broadcast_signal", signalName=sub["signalName"])["triggered"]
                    for p in ps.parts
                )
                if triggered:
                    return True
                continue
            result = ps.publish(sub["messageName"], sub["correlationKey"])
            if result["correlated"]:
                return True
    due = _next_timer(ps)
    if due is not None:
        ps.tick(max(due, max(p.now_ms for p in ps.parts.values())))
        return True
    return False


def _start(ps: Partitions, definition_key: int, pid: str) -> tuple[int, int] | None:
    """Start one instance: by create_instance, or by its message, signal or timer start."""
    variables = {**COMMON_VARIABLES, **START_VARIABLES.get(pid, {})}
    model = ps[1].engine._models[definition_key].process
    if model.start is not None:
        created = ps.ok(
            1, "create_instance", processDefinitionKey=definition_key, variables=variables
        )
        return 1, created["processInstanceKey"]
    started: list[int] = []
    if model.message_starts:
        message = model.elements[model.message_starts[0]].message
        assert message is not None
        started = ps.publish(message.name.source, "corpus", variables=variables)["startedInstances"]
    elif model.signal_starts:
        signal = model.elements[model.signal_starts[0]].signal
        assert signal is not None
        started = ps.ok(1, "broadcast_signal", signalName=signal.source, variables=variables)[
            "startedInstances"
        ]
    elif model.timer_starts:
        with ps[1].store.read() as txn:
            rows = [records.loads(raw) for _, raw in txn.scan("timers")]
        due = [r["due"] for r in rows if r["processDefinitionKey"] == definition_key]
        if due:
            ps.tick(max(min(due), ps[1].now_ms))
        # the instance its timer started last (earlier ticks may already have fired it)
        started = [
            e["processInstanceKey"]
            for e in reversed(ps[1].events)
            if e["event"] == "instance_created" and e["processDefinitionKey"] == definition_key
        ]
    if not started:
        return None
    return keys.partition_of(started[0]), started[0]


def _run(ps: Partitions, definition_key: int, pid: str) -> str:
    begun = _start(ps, definition_key, pid)
    if begun is None:
        return "not started (its start event did not fire)"
    home, key = begun
    for _ in range(ROUNDS_MAX):
        view = ps[home].instance(key)
        if view["state"] in ("completed", "terminated"):
            return "finished" if view["state"] == "completed" else "terminated"
        incidents = [i for p in ps.parts.values() for i in _all_open_incidents(p)]
        if incidents:
            first = incidents[0]
            ps.ok(home, "cancel_instance", processInstanceKey=key)
            return f"incident {first['errorType']}: {first['message'][:70]}"
        if not _step(ps):
            break
    view = ps[home].instance(key)
    if view["state"] == "completed":
        return "finished"
    waiting = sorted({e["elementType"] for e in view["activeElementInstances"]})
    ps.ok(home, "cancel_instance", processInstanceKey=key)
    return f"still waiting at {'/'.join(waiting)}"


def _all_open_incidents(part: Any) -> list[dict[str, Any]]:
    with part.store.read() as txn:
        items, _ = queries.list_incidents(txn, incident_state="active", limit=10)
    return items


@pytest.mark.skipif(not FILES, reason=f"no corpus at {CORPUS}")
def test_corpus_models_run_end_to_end() -> None:
    ps = Partitions(2)
    for name in DECISIONS:
        xml = (DMN_MODELS / name).read_text(encoding="utf-8")
        first = ps.ok(1, "deploy_decisions", xml=xml)
        assigned = {
            "requirements": {"key": first["decisionRequirementsKey"], "version": first["version"]},
            "decisions": {
                d["decisionId"]: {"key": d["decisionKey"], "version": d["version"]}
                for d in first["decisions"]
            },
        }
        ps.ok(2, "deploy_decisions", xml=xml, assigned=assigned)
    rows: list[tuple[str, str, str]] = []
    runnable: list[tuple[str, int, str]] = []
    for path in FILES:
        name = str(path.relative_to(CORPUS))
        outcome = ps.apply(1, "deploy", xml=path.read_text(encoding="utf-8"))
        if not outcome.ok:
            reasons = sorted(set(reasons_of(outcome.error.message)))  # type: ignore[union-attr]
            rows.append((name, "-", "rejected: " + ", ".join(reasons)))
            continue
        result = outcome.unwrap()
        assigned = {
            p["bpmnProcessId"]: {"key": p["processDefinitionKey"], "version": p["version"]}
            for p in result["processes"]
        }
        ps.ok(2, "deploy", xml=path.read_text(encoding="utf-8"), assigned=assigned)
        for process in result["processes"]:
            runnable.append((name, process["processDefinitionKey"], process["bpmnProcessId"]))
    for name, definition_key, pid in runnable:
        rows.append((name, pid, _run(ps, definition_key, pid)))
    summary = Counter(
        "rejected" if r[2].startswith("rejected") else r[2].split(":")[0] for r in rows
    )
    print("\n| model | process | outcome |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    print("\n| outcome | count |\n|---|---|")
    for outcome, count in summary.most_common():
        print(f"| {outcome} | {count} |")
    assert summary["finished"] > 0
    for partition_id in (1, 2):  # every model's runs left the search rows consistent
        tables = ps[partition_id].store.tables
        instances = {records.from_u64(k): records.loads(v) for k, v in tables["instances"].items()}
        check_search(tables, instances)
