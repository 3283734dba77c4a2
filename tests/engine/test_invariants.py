"""Random command sequences on a model with every supported element keep the state consistent.

After each command: every open job belongs to a waiting element instance of an active instance
and vice versa, the instance's incident counter matches its open incidents, the element-instance
index matches the instances, the variable scopes form a tree rooted at the instance (every
element instance runs in the instance or in another of its element instances, and holds its
locals as a non-empty object or not at all), and a replay of the same commands gives identical
tables. Set-variables commands (local and propagating) on random scopes and instance
modifications (terminations and starts) are part of the mix.
"""

from __future__ import annotations

import random
from typing import Any

from support.bpmn import (
    bpmn,
    chain,
    end,
    error,
    error_boundary,
    error_end,
    flow,
    gateway,
    service,
    start,
)

from zennode.engine import records

from .helpers import Harness, check_search

INNER = (
    start("s_in")
    + gateway("in_fork", "inclusive")
    + service("in_a", "A")
    + service("in_b", "B")
    + gateway("in_join", "inclusive")
    + gateway("in_x", default="in_ok")
    + error_end("in_err", "Err")
    + end("in_end")
    + chain("s_in", "in_fork")
    + flow("i1", "in_fork", "in_a", "=a")
    + flow("i2", "in_fork", "in_b", "=b")
    + flow("i3", "in_a", "in_join")
    + flow("i4", "in_b", "in_join")
    + chain("in_join", "in_x")
    + flow("in_bad", "in_x", "in_err", "=fail = true")
    + flow("in_ok", "in_x", "in_end")
)

SP_INPUTS = (
    "<bpmn:extensionElements><zeebe:ioMapping>"
    '<zeebe:input source="=n" target="inner"/><zeebe:input source="=a" target="a"/>'
    '<zeebe:output source="=inner" target="from_sp"/>'
    "</zeebe:ioMapping></bpmn:extensionElements>"
)

MODEL = bpmn(
    start()
    + gateway("fork", "parallel")
    + f'<bpmn:subProcess id="sp">{SP_INPUTS}{INNER}</bpmn:subProcess>'
    + error_boundary("caught", "sp", "Err")
    + service("side", "S", retries="1", inputs={"s": "=n"})
    + error_boundary("side_caught", "side")
    + gateway("join", "parallel")
    + gateway("route")
    + service("last", "L")
    + '<bpmn:endEvent id="stop"><bpmn:terminateEventDefinition/></bpmn:endEvent>'
    + end()
    + end("after_caught")
    + end("after_side_caught")
    + chain("start", "fork")
    + flow("p1", "fork", "sp")
    + flow("p2", "fork", "side")
    + flow("j1", "sp", "join")
    + flow("j2", "side", "join")
    + chain("join", "route")
    + flow("r1", "route", "last", "=n > 3")
    + flow("r2", "route", "stop", "=n <= 3")
    + chain("last", "end")
    + chain("caught", "after_caught")
    + chain("side_caught", "after_side_caught"),
    errors=error("Err", "E1"),
)


STEPS = 500


def check(h: Harness) -> None:
    tables = h.store.tables
    instances = {records.from_u64(k): records.loads(v) for k, v in tables["instances"].items()}
    jobs = {records.from_u64(k): records.loads(v) for k, v in tables["jobs"].items()}
    incidents = [records.loads(v) for v in tables["incidents"].values()]
    index = {
        records.from_u64(k[len(records.ELEMENT_INSTANCE_PREFIX) :]): records.from_u64(v)
        for k, v in tables["index"].items()
        if k.startswith(records.ELEMENT_INSTANCE_PREFIX)
    }
    expected_index = {}
    for key, instance in instances.items():
        open_count = sum(
            1 for i in incidents if i["processInstanceKey"] == key and i["state"] == "active"
        )
        assert instance["incidents"] == open_count
        if instance["state"] != "active":
            assert instance["elements"] == {} and instance["joins"] == {}
        assert isinstance(instance["variables"], dict)
        for ei_key, record in instance["elements"].items():
            expected_index[int(ei_key)] = key
            assert record["scope"] == key or str(record["scope"]) in instance["elements"]
            if "locals" in record:
                assert isinstance(record["locals"], dict) and record["locals"]
            job_key = record.get("jobKey")
            if job_key is not None:
                assert jobs[job_key]["state"] in ("active", "activated", "failed")
                assert jobs[job_key]["elementInstanceKey"] == int(ei_key)
    assert index == expected_index
    for job in jobs.values():
        if job["state"] in ("active", "activated", "failed"):
            owner = instances[job["processInstanceKey"]]
            assert owner["state"] == "active"
            assert owner["elements"][str(job["elementInstanceKey"])]["jobKey"] == job["key"]
        state_key = records.job_state_key(job["state"], job["type"], job["key"])
        assert state_key in tables["jobs_by_state"]
        if job["state"] == "activated":
            assert records.pair_key(job["deadline"], job["key"]) in tables["jobs_by_deadline"]
    assert len(tables["jobs_by_state"]) == len(jobs)
    assert len(tables["jobs_by_deadline"]) == sum(1 for j in jobs.values() if "deadline" in j)
    check_search(tables, instances)


def random_commands(h: Harness, rng: random.Random) -> list[dict[str, Any]]:
    tables = h.store.tables
    jobs = [records.loads(v) for v in tables["jobs"].values()]
    open_jobs = [j for j in jobs if j["state"] in ("active", "activated")]
    incidents = [records.loads(v) for v in tables["incidents"].values()]
    open_incidents = [i for i in incidents if i["state"] == "active"]
    roll = rng.random()
    if roll < 0.15 or not open_jobs:
        variables = {"a": rng.random() < 0.6, "b": rng.random() < 0.6, "n": rng.randrange(6)}
        if rng.random() < 0.2:
            variables["fail"] = True
        return [{"type": "create_instance", "bpmnProcessId": "p", "variables": variables}]
    job = rng.choice(open_jobs)
    if roll < 0.55:
        return [{"type": "complete_job", "jobKey": job["key"], "variables": {"r": rng.random()}}]
    if roll < 0.65:
        return [{"type": "fail_job", "jobKey": job["key"], "message": "x"}]
    if roll < 0.7:
        return [{"type": "fail_job", "jobKey": job["key"], "errorCode": rng.choice(["E1", "zz"])}]
    if roll < 0.8 and open_incidents:
        incident = rng.choice(open_incidents)
        fix = {"type": "set_variables", "processInstanceKey": incident["processInstanceKey"]}
        fix["variables"] = {"fail": False, "a": True}
        resolve = {"type": "resolve_incident", "incidentKey": incident["key"]}
        return [fix, resolve] if rng.random() < 0.5 else [resolve]
    if roll < 0.82:
        instance = records.loads(tables["instances"][records.u64(job["processInstanceKey"])])
        scope = rng.choice([job["processInstanceKey"], *map(int, instance["elements"])])
        command = {"type": "set_variables", "elementInstanceKey": scope}
        command["variables"] = {rng.choice(["a", "inner", "s", "r", "new"]): rng.random()}
        if rng.random() < 0.5:
            command["local"] = True
        return [command]
    if roll < 0.84:
        return [{"type": "cancel_instance", "processInstanceKey": job["processInstanceKey"]}]
    if roll < 0.87:
        return [modify_command(tables, job["processInstanceKey"], rng)]
    if roll < 0.92:
        return [
            {
                "type": "activate_jobs",
                "jobType": job["type"],
                "worker": rng.choice(["w1", "w2"]),
                "timeoutMs": rng.randrange(1, 50),
                "maxJobs": 3,
            }
        ]
    if roll < 0.96:
        return [{"type": "timeout_jobs"}]
    return [{"type": "release_jobs", "worker": rng.choice(["w1", "w2"])}]


def modify_command(tables: dict[str, Any], key: int, rng: random.Random) -> dict[str, Any]:
    """A random instance modification: terminate some element instances, start at elements
    (some of them refused: an element whose flow scope it terminates, a start event)."""
    instance = records.loads(tables["instances"][records.u64(key)])
    elements = list(map(int, instance["elements"]))
    command: dict[str, Any] = {"type": "modify_instance", "processInstanceKey": key}
    if elements and rng.random() < 0.7:
        command["terminate"] = rng.sample(elements, rng.randint(1, min(2, len(elements))))
    if rng.random() < 0.7:
        targets = ["in_a", "in_b", "side", "last", "sp", "in_join", "join", "s_in"]
        command["activate"] = [
            {"elementId": rng.choice(targets), "variables": [{"variables": {"n": 4}}]}
        ]
    if rng.random() < 0.3:
        command["variables"] = {"a": rng.random() < 0.5}
    return command


def test_random_commands_keep_every_invariant() -> None:
    rng = random.Random(20261128)
    h = Harness()
    h.deploy(MODEL)
    replay = Harness()
    replay.deploy(MODEL)
    outcomes: dict[str, int] = {}
    for _ in range(STEPS):
        for command in random_commands(h, rng):
            fields = {k: v for k, v in command.items() if k != "type"}
            outcome = h.apply(command["type"], **fields)
            same = replay.apply(command["type"], **fields)
            assert (outcome.result, outcome.events) == (same.result, same.events)
            refusable = command["type"] == "modify_instance"  # some starts are refused
            assert outcome.error is None or refusable, (command, outcome.error)
            outcomes[command["type"]] = outcomes.get(command["type"], 0) + 1
            check(h)
    assert h.snapshot() == replay.snapshot()
    completed = sum(
        1 for v in h.store.tables["instances"].values() if records.loads(v)["state"] == "completed"
    )
    incidents = [records.loads(v) for v in h.store.tables["incidents"].values()]
    print(outcomes, {"completed": completed, "incidents": len(incidents)})
    assert completed > 0 and len(outcomes) >= 6 and outcomes.get("modify_instance", 0) > 5
    assert {i["errorType"] for i in incidents} >= {"JOB_NO_RETRIES", "UNHANDLED_ERROR_EVENT"}
