"""History retention: an ended root instance and all it owns go once its time to live passed,
through `purge_history` (deterministic in the command's `now_ms`), in bounded chunks."""

from __future__ import annotations

import pytest
from support.bpmn import bpmn, calling, chain, end, message, message_catch, one_task, start

from zennode.engine import history, queries, records
from zennode.engine.commands import CreateInstance, PurgeHistory, from_wire, to_wire
from zennode.engine.retention import parse_ttl
from zennode.errors import BadRequest, NotFound

from .helpers import Harness

S = 1000
ENGINE_TABLES_OWNED_BY_INSTANCES = (
    "instances",
    "element_instances",
    "jobs",
    "jobs_by_state",
    "jobs_by_instance",
    "jobs_by_deadline",
    "incidents",
    "incidents_by_instance",
    "timers",
    "subscriptions",
)


def _without_counter(tables: dict[str, dict[bytes, bytes]]) -> dict[str, dict[bytes, bytes]]:
    return {name: rows for name, rows in tables.items() if name != "meta"}


def _purge(h: Harness, now_ms: int, default_ttl_ms: int | None, limit: int = 100) -> dict:
    wire = to_wire(PurgeHistory(default_ttl_ms=default_ttl_ms, limit=limit))
    return h.ok(wire.pop("type"), now_ms=now_ms, **wire)


def _finish_with_incident_and_job(h: Harness, key: int) -> None:
    """A failed job (incident), retries restored, resolved, then completed: every kind of row."""
    job = h.job(key, "task")
    h.ok("activate_jobs", jobType="work", worker="w", maxJobs=1, timeoutMs=60 * S)
    h.ok("assign_job", jobKey=job["key"], assignee="someone")  # its assignee index row too
    h.ok("fail_job", jobKey=job["key"], retries=0, message="boom")
    [incident] = h.open_incidents(key)
    h.ok("update_job_retries", jobKey=job["key"], retries=1)
    h.ok("resolve_incident", incidentKey=incident["key"])
    h.ok("complete_job", jobKey=job["key"], variables={"done": True})


def test_an_ended_instance_stays_readable_until_its_ttl_then_everything_it_owned_is_gone() -> None:
    h = Harness()
    definition = h.deploy(one_task("p", "work"))
    before = _without_counter(h.snapshot())
    key = h.ok("create_instance", processDefinitionKey=definition["processDefinitionKey"])[
        "processInstanceKey"
    ]
    _finish_with_incident_and_job(h, key)
    ended_at = h.instance(key)["endedAt"]
    assert h.instance(key)["state"] == "completed"
    early = _purge(h, ended_at + 10 * S - 1, default_ttl_ms=10 * S)
    assert early["deleted"] == 0 and early["nextDue"] == ended_at + 10 * S
    assert h.instance(key)["state"] == "completed"  # still readable before its TTL
    assert h.incidents(key) and h.jobs(key)
    index = h.snapshot()["index"]
    search_rows = [k for k in index if k[:3] in (b"qs\0", b"qe\0", b"qn\0")]
    assert len(search_rows) > 3  # its search summary, entries and statistics counters exist
    assert any(k.startswith(history.PREFIX) for k in index)  # its element history is there
    assert any(k.startswith(records.JOB_ASSIGNEE_PREFIX) for k in index)
    done = _purge(h, ended_at + 10 * S, default_ttl_ms=10 * S)
    assert done["deleted"] == 1 and done["more"] is False and done["nextDue"] is None
    with pytest.raises(NotFound):
        h.instance(key)
    assert h.jobs(key) == [] and h.incidents(key) == []
    assert _without_counter(h.snapshot()) == before  # nothing of the instance is left anywhere


def test_a_terminated_instance_with_open_waits_is_deleted_too() -> None:
    h = Harness()
    xml = bpmn(
        start() + message_catch("wait", "msg") + end() + chain("start", "wait", "end"),
        "waits",
        errors=message("msg", "order", "=orderId"),
    )
    definition = h.deploy(xml)
    before = h.snapshot()
    key = h.ok(
        "create_instance",
        processDefinitionKey=definition["processDefinitionKey"],
        variables={"orderId": "o-1"},
    )["processInstanceKey"]
    h.ok("cancel_instance", processInstanceKey=key)
    ended_at = h.instance(key)["endedAt"]
    assert _purge(h, ended_at, default_ttl_ms=0)["deleted"] == 1
    with pytest.raises(NotFound):
        h.instance(key)
    after = h.snapshot()
    for table in ENGINE_TABLES_OWNED_BY_INSTANCES:
        if table == "subscriptions":
            # only the pending close relay to the message partition may wait for its ack
            rows = [k for k in after[table] if k not in before[table]]
            assert all(k.startswith(b"c\0") for k in rows), rows
        else:
            assert after[table] == before[table], table


def test_running_instances_are_never_deleted_and_the_own_ttl_wins_over_the_default() -> None:
    h = Harness()
    definition_key = h.deploy(one_task("p", "work"))["processDefinitionKey"]
    running = h.ok("create_instance", processDefinitionKey=definition_key)["processInstanceKey"]
    own = h.ok("create_instance", processDefinitionKey=definition_key, historyTtlMs=60 * S)[
        "processInstanceKey"
    ]
    default = h.ok("create_instance", processDefinitionKey=definition_key)["processInstanceKey"]
    h.complete(own, "task")
    h.complete(default, "task")
    ended = h.instance(default)["endedAt"]
    # no default TTL given: only instances with their own TTL can expire
    assert _purge(h, ended + 3600 * S, default_ttl_ms=None)["deleted"] == 1
    with pytest.raises(NotFound):
        h.instance(own)
    assert h.instance(default)["state"] == "completed"
    assert _purge(h, ended + 3600 * S, default_ttl_ms=3600 * S)["deleted"] == 1
    with pytest.raises(NotFound):
        h.instance(default)
    assert _purge(h, ended + 10**9, default_ttl_ms=0)["deleted"] == 0
    assert h.instance(running)["state"] == "active"


def test_deletion_goes_in_bounded_chunks_earliest_due_first() -> None:
    h = Harness()
    definition_key = h.deploy(one_task("p", "work"))["processDefinitionKey"]
    keys = []
    for _ in range(5):
        key = h.ok("create_instance", processDefinitionKey=definition_key)["processInstanceKey"]
        h.complete(key, "task")
        keys.append(key)
    now = h.now_ms + 1
    first = _purge(h, now, default_ttl_ms=0, limit=2)
    assert (first["deleted"], first["more"]) == (2, True)
    with pytest.raises(NotFound):
        h.instance(keys[1])
    assert h.instance(keys[2])["state"] == "completed"
    assert _purge(h, now, default_ttl_ms=0, limit=2)["more"] is True
    last = _purge(h, now, default_ttl_ms=0, limit=2)
    assert (last["deleted"], last["more"]) == (1, False)
    with pytest.raises(NotFound):
        h.instance(keys[4])


def test_a_call_activity_child_goes_with_its_root_never_alone() -> None:
    h = Harness()
    h.deploy(one_task("child", "child-work"))
    grand = bpmn(start() + "" + end() + chain("start", "end"), "leaf")
    h.deploy(grand)
    middle = h.deploy(calling("middle", "child"))
    root_def = h.deploy(calling("root", "middle"))
    before = _without_counter(h.snapshot())
    root = h.ok("create_instance", processDefinitionKey=root_def["processDefinitionKey"])[
        "processInstanceKey"
    ]
    assert middle
    [child_job] = [j for j in h.jobs() if j["type"] == "child-work"]
    child = child_job["processInstanceKey"]
    middle_key = h.instance(child)["parentProcessInstanceKey"]
    # a direct child instance that ended on its own is not due: it goes with the root
    assert _purge(h, h.now_ms + 10**6, default_ttl_ms=0)["deleted"] == 0
    h.ok("complete_job", jobKey=child_job["key"])
    assert h.instance(root)["state"] == "completed"
    index = h.snapshot()["index"]
    assert any(k.startswith(records.CHILD_OF_PREFIX) for k in index)  # parent -> child rows
    assert _purge(h, h.now_ms + 1, default_ttl_ms=0)["deleted"] == 1
    for key in (root, middle_key, child):
        with pytest.raises(NotFound):
            h.instance(key)
    assert _without_counter(h.snapshot()) == before


def test_history_ttl_and_purge_fields_are_checked_on_decode() -> None:
    with pytest.raises(BadRequest):
        from_wire({"type": "create_instance", "bpmnProcessId": "p", "historyTtlMs": -1})
    with pytest.raises(BadRequest):
        from_wire({"type": "purge_history", "limit": 0})
    with pytest.raises(BadRequest):
        from_wire({"type": "purge_history", "defaultTtlMs": "1d"})
    record = from_wire({"type": "create_instance", "bpmnProcessId": "p", "historyTtlMs": 5})
    assert record == CreateInstance(bpmn_process_id="p", history_ttl_ms=5)
    assert from_wire({"type": "purge_history", "limit": 10**6}).limit == 1000


def test_queries_do_not_list_deleted_instances() -> None:
    h = Harness()
    definition_key = h.deploy(one_task("p", "work"))["processDefinitionKey"]
    key = h.ok("create_instance", processDefinitionKey=definition_key)["processInstanceKey"]
    h.complete(key, "task")
    _purge(h, h.now_ms + 1, default_ttl_ms=0)
    with h.store.read() as txn:
        _items, total = queries.list_instances(txn, offset=0, limit=10)
    assert total == 0


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("30d", 30 * 86_400 * S),
        ("12h", 12 * 3600 * S),
        ("15m", 15 * 60 * S),
        ("90s", 90 * S),
        ("P30D", 30 * 86_400 * S),
        ("PT1H30M", 5400 * S),
        ("p1d", 86_400 * S),
    ],
)
def test_history_ttl_texts(text: str, ms: int) -> None:
    assert parse_ttl(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        *("", "30", "d", "-1d", "1w", "P", "PX", "soon", "1" * 100),
        # longer than the calendar: ended + ttl once overflowed the 8-byte key of the expiry
        *("99999999999999999999d", "P9000Y", "PT99999999999999999999H"),
    ],
)
def test_bad_history_ttl_texts_are_bad_requests(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_ttl(text)
