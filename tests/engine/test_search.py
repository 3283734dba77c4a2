"""Instance search and definition statistics (engine/search/): every filter, sort and page,
checked against the same answer computed by brute force over all instances."""

from __future__ import annotations

from typing import Any

import pytest
from support.bpmn import bpmn, calling, chain, end, one_task, service, start, sub

from zennode.engine import history, queries, records, search
from zennode.engine.storage import MemoryStore
from zennode.errors import BadRequest

from .helpers import Harness, check_search

S = 1000


def _page(h: Harness, **args: Any) -> tuple[list[int], int | None]:
    with h.store.read() as txn:
        items, total = queries.list_instances(txn, **args)
    return [i["processInstanceKey"] for i in items], total


def _all(h: Harness) -> list[dict[str, Any]]:
    """Every instance's view, the brute-force reference."""
    keys = sorted(records.from_u64(k) for k in h.store.tables["instances"])
    return [h.instance(k) for k in keys]


def _two_step(pid: str, end_id: str = "end") -> str:
    body = start() + service("a", f"{pid}-a") + service("b", f"{pid}-b") + end(end_id)
    return bpmn(body + chain("start", "a", "b", end_id), pid)


@pytest.fixture(scope="module")
def world() -> Harness:
    """Instances in every state, of two processes (one in two versions), with business keys,
    a call-activity parent and child, created at known times."""
    h = Harness()
    alpha1 = h.deploy(_two_step("alpha"))["processDefinitionKey"]
    alpha2 = h.deploy(_two_step("alpha", "finish"))["processDefinitionKey"]
    beta = h.deploy(one_task("beta", "beta-work", retries=1))["processDefinitionKey"]
    h.deploy(calling("parent", "beta"))
    made = []
    for i in range(12):
        definition = (alpha1, alpha2, beta)[i % 3]
        fields: dict[str, Any] = {"processDefinitionKey": definition}
        if i % 4 == 0:
            fields["businessKey"] = f"order-{i % 8}"
        made.append(h.ok("create_instance", now_ms=10 * S + i * S, **fields)["processInstanceKey"])
    h.complete(made[0], "a")  # at b now
    h.complete(made[3], "a")
    h.complete(made[3], "b")  # completed
    h.ok("cancel_instance", processInstanceKey=made[6])  # terminated
    job = h.job(made[2], "task")  # beta, retries 1: fails into an incident
    h.ok("activate_jobs", jobType="beta-work", worker="w", maxJobs=10, timeoutMs=60 * S)
    h.ok("fail_job", jobKey=job["key"], retries=0, message="boom")
    h.ok("create_instance", bpmnProcessId="parent", now_ms=30 * S)  # + a child instance
    return h


def _expected(h: Harness, **f: Any) -> list[dict[str, Any]]:
    out = []
    for view in _all(h):
        created = view["createdAt"]
        if (
            (f.get("state") in (None, view["state"]))
            and (f.get("bpmn_process_id") in (None, view["bpmnProcessId"]))
            and (f.get("process_definition_key") in (None, view["processDefinitionKey"]))
            and (f.get("business_key") in (None, view.get("businessKey")))
            and (f.get("parent_key") in (None, view.get("parentProcessInstanceKey")))
            and (
                f.get("activity_id") is None
                or f["activity_id"] in {e["elementId"] for e in view["activeElementInstances"]}
            )
            and (f.get("created_from") is None or created >= f["created_from"])
            and (f.get("created_to") is None or created <= f["created_to"])
        ):
            out.append(view)
    return out


# The filters the counters can count by (the total is given only with these: README, OpenAPI).
COUNTED_FILTERS = {"state", "bpmn_process_id", "process_definition_key"}


def _filter_cases(h: Harness) -> list[dict[str, Any]]:
    views = _all(h)
    child = next(v for v in views if v.get("parentProcessInstanceKey"))
    alpha1 = min(v["processDefinitionKey"] for v in views if v["bpmnProcessId"] == "alpha")
    return [
        {},
        {"state": "active"},
        {"state": "completed"},
        {"state": "terminated"},
        {"state": "failed"},
        {"bpmn_process_id": "alpha"},
        {"bpmn_process_id": "nobody"},
        {"process_definition_key": alpha1},
        {"process_definition_key": alpha1, "state": "active"},
        {"bpmn_process_id": "alpha", "state": "active"},
        {"bpmn_process_id": "beta", "process_definition_key": alpha1, "state": "active"},
        {"business_key": "order-0"},
        {"business_key": "order-4", "state": "active"},
        {"parent_key": child["parentProcessInstanceKey"]},
        {"activity_id": "a"},
        {"activity_id": "b", "bpmn_process_id": "alpha"},
        {"activity_id": "task"},
        {"created_from": 13 * S},
        {"created_to": 15 * S},
        {"created_from": 12 * S, "created_to": 18 * S, "bpmn_process_id": "alpha"},
        {"created_from": 12 * S, "created_to": 18 * S, "state": "active"},
        {"created_from": 10**12},
        {"created_to": 1},
        {"created_from": 14 * S + 1, "created_to": 15 * S - 1},
    ]


_STATE_RANK = {s: i for i, s in enumerate(search.STATES)}


def _sorted(views: list[dict[str, Any]], sort_by: str, desc: bool) -> list[int]:
    def rank(v: dict[str, Any]) -> tuple[Any, ...]:
        key = v["processInstanceKey"]
        if sort_by == "createdAt":
            return (v["createdAt"], key)
        if sort_by == "state":
            return (_STATE_RANK[v["state"]], key)
        return (key,)

    return [v["processInstanceKey"] for v in sorted(views, key=rank, reverse=desc)]


@pytest.mark.parametrize("sort_by", search.SORT_FIELDS)
@pytest.mark.parametrize("sort_order", search.SORT_ORDERS)
def test_every_filter_and_sort_matches_brute_force_page_by_page(
    world: Harness, sort_by: str, sort_order: str
) -> None:
    for filters in _filter_cases(world):
        want = _sorted(_expected(world, **filters), sort_by, sort_order == "desc")
        got: list[int] = []
        for offset in range(0, 20, 3):  # pages of 3 cover everything in order, no repeats
            keys, total = _page(
                world, sort_by=sort_by, sort_order=sort_order, offset=offset, limit=3, **filters
            )
            got.extend(keys)
            # The documented rule: a total exactly when every filter is a state or definition.
            assert (total is None) == bool(set(filters) - COUNTED_FILTERS), filters
            if total is not None:
                assert total == len(want), filters
        assert got == want, (filters, sort_by, sort_order)


def test_the_world_has_every_state_and_the_view_shows_the_business_key(world: Harness) -> None:
    views = _all(world)
    assert {v["state"] for v in views} == set(search.STATES)
    assert sum(1 for v in views if v.get("businessKey") == "order-0") == 2
    counted = {"state": "failed"}, {}, {"bpmn_process_id": "alpha"}
    for filters in counted:
        assert _page(world, limit=1, **filters)[1] == len(_expected(world, **filters))
    # a filter the counters cannot count gives no total (it would need a scan)
    assert _page(world, limit=1, activity_id="a")[1] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"state": "sleeping"}, "state must be one of"),
        ({"sort_by": "name"}, "sortBy"),
        ({"sort_order": "up"}, "sortOrder"),
        ({"created_from": 5, "created_to": 4}, "createdFrom is after createdTo"),
        ({"business_key": "x" * (search.BUSINESS_KEY_CHARS_MAX + 1)}, "businessKey"),
        ({"colour": "red"}, "unknown instance filter"),
        ({"process_definition_key": -1}, "processDefinitionKey"),
        ({"parent_key": 2**64}, "parentProcessInstanceKey"),
        ({"created_to": "soon"}, "createdTo"),
        ({"activity_id": "a\0b"}, "activityId"),
        ({"limit": queries.PAGE_SIZE_MAX + 1}, "limit"),
    ],
)
def test_bad_search_arguments_are_bad_requests(args: dict[str, Any], message: str) -> None:
    h = Harness()
    with pytest.raises(BadRequest, match=message), h.store.read() as txn:
        queries.list_instances(txn, **args)


def test_a_business_key_too_long_or_not_text_is_refused_at_create() -> None:
    h = Harness()
    definition = h.deploy(one_task("p", "w"))["processDefinitionKey"]
    for bad in ("x" * (search.BUSINESS_KEY_CHARS_MAX + 1), 7, ""):
        outcome = h.apply("create_instance", processDefinitionKey=definition, businessKey=bad)
        with pytest.raises(BadRequest, match="businessKey"):
            outcome.unwrap()


def _element_stats(h: Harness, definition: int) -> dict[str, dict[str, int]]:
    with h.store.read() as txn:
        rows = queries.element_statistics(txn, definition)
    return {r.pop("elementId"): r for r in rows}


def _definition_stats(h: Harness) -> dict[int, dict[str, int]]:
    with h.store.read() as txn:
        rows = queries.definition_statistics(txn)
    return {r.pop("processDefinitionKey"): r for r in rows}


def test_statistics_count_elements_and_states_and_give_back_a_deleted_instance() -> None:
    h = Harness()
    definition = h.deploy(one_task("p", "w", retries=1))["processDefinitionKey"]
    keys = [
        h.ok("create_instance", processDefinitionKey=definition)["processInstanceKey"]
        for _ in range(4)
    ]
    h.complete(keys[0], "task")
    h.ok("cancel_instance", processInstanceKey=keys[1])
    job = h.job(keys[2], "task")
    h.ok("activate_jobs", jobType="w", worker="w", maxJobs=10, timeoutMs=60 * S)
    h.ok("fail_job", jobKey=job["key"], retries=0, message="boom")
    assert _definition_stats(h) == {
        definition: {"active": 1, "completed": 1, "failed": 1, "terminated": 1}
    }
    stats = _element_stats(h, definition)
    assert stats["start"] == {"active": 0, "completed": 4, "terminated": 0, "incidents": 0}
    assert stats["task"] == {"active": 2, "completed": 1, "terminated": 1, "incidents": 1}
    assert stats["end"] == {"active": 0, "completed": 1, "terminated": 0, "incidents": 0}
    ended = h.instance(keys[0])["endedAt"]
    h.ok("purge_history", now_ms=ended + 1, defaultTtlMs=0, limit=1)  # the completed one goes
    assert _definition_stats(h)[definition]["completed"] == 0
    stats = _element_stats(h, definition)
    assert stats["start"]["completed"] == 3 and "end" not in stats
    assert stats["task"] == {"active": 2, "completed": 0, "terminated": 1, "incidents": 1}


def test_a_multi_instance_activity_counts_its_runs_not_its_body() -> None:
    h = Harness()
    task = service("task", "w").replace(
        "</bpmn:serviceTask>",
        '<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
        "<bpmn:extensionElements><zeebe:loopCharacteristics "
        'inputCollection="=items" inputElement="item"/></bpmn:extensionElements>'
        "</bpmn:multiInstanceLoopCharacteristics></bpmn:serviceTask>",
    )
    definition = h.deploy(bpmn(start() + task + end() + chain("start", "task", "end"), "mi"))[
        "processDefinitionKey"
    ]
    key = h.ok("create_instance", processDefinitionKey=definition, variables={"items": [1, 2, 3]})[
        "processInstanceKey"
    ]
    assert _element_stats(h, definition)["task"]["active"] == 3
    with h.store.read() as txn:
        assert queries.list_instances(txn, activity_id="task")[0][0]["processInstanceKey"] == key
    for job in h.active_jobs(key):
        h.ok("complete_job", jobKey=job["key"], variables={})
    assert _element_stats(h, definition)["task"] == {
        "active": 0,
        "completed": 3,
        "terminated": 0,
        "incidents": 0,
    }


def test_statistics_of_an_unknown_definition_are_not_found() -> None:
    from zennode.errors import NotFound

    with pytest.raises(NotFound), MemoryStore().read() as txn:
        queries.element_statistics(txn, 12345)


class _CountingTxn:
    """A read transaction that counts the rows it hands out (index entries and records)."""

    def __init__(self, txn: Any) -> None:
        self.txn = txn
        self.rows = 0

    def get(self, table: str, key: bytes) -> bytes | None:
        self.rows += 1
        return self.txn.get(table, key)

    def scan(self, table: str, *args: Any, **kwargs: Any) -> Any:
        for row in self.txn.scan(table, *args, **kwargs):
            self.rows += 1
            yield row


def test_a_page_reads_about_offset_plus_limit_rows_never_every_instance() -> None:
    h = Harness()
    definition = h.deploy(one_task("many", "many-work", retries=1))["processDefinitionKey"]
    keys = [
        h.ok("create_instance", processDefinitionKey=definition)["processInstanceKey"]
        for _ in range(400)
    ]
    for key in keys[::4]:
        h.ok("cancel_instance", processInstanceKey=key)
    cases: list[dict[str, Any]] = [
        {},
        {"state": "terminated"},
        {"state": "active", "sort_by": "createdAt", "sort_order": "desc"},
        {"sort_by": "state"},
        {"activity_id": "task", "created_from": 1},
        {"process_definition_key": definition, "state": "terminated"},  # 1 in 4 pass
    ]
    for args in cases:
        for offset in (0, 60):
            with h.store.read() as txn:
                counting = _CountingTxn(txn)
                items, _ = queries.list_instances(counting, offset=offset, limit=10, **args)
            assert len(items) == 10
            # index entries up to the page (x4 when 1 in 4 candidates match, each checked on its
            # summary: x2), the page's records, a few seeks and counter rows
            residual = "process_definition_key" in args
            bound = (offset + 10) * (8 if residual else 1) + 40
            assert counting.rows <= bound, (args, offset, counting.rows)


INNER = start("s_in") + service("inner_a", "A") + service("inner_b", "B") + end("e_in")
MODIFIED = bpmn(
    start()
    + service("first", "F")
    + sub("sp", INNER + chain("s_in", "inner_a", "inner_b", "e_in", prefix="i"))
    + service("last", "L")
    + end()
    + chain("start", "first", "sp", "last", "end"),
    "mod",
)


def _from_history(h: Harness) -> dict[str, dict[str, int]]:
    """Element statistics recomputed from the history of every instance held: the reference
    the counters must equal (both are written by the same commands, by different code)."""
    out: dict[str, dict[str, int]] = {}
    for view in _all(h):
        with h.store.read() as txn:
            items = history.view(txn, view["processInstanceKey"])
        for item in items:
            if item["elementType"] in search.NOT_TOKENS:
                continue
            row = out.setdefault(
                item["elementId"], {"active": 0, "completed": 0, "terminated": 0, "incidents": 0}
            )
            row[item["state"]] += 1
    return out


def _tokens(h: Harness, key: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for element in h.instance(key)["activeElementInstances"]:
        found[element["elementId"]] = element["elementInstanceKey"]
    return found


def test_statistics_and_indexes_follow_a_modification_and_retention_takes_them_back() -> None:
    h = Harness()
    definition = h.deploy(MODIFIED)["processDefinitionKey"]

    def create() -> int:
        return h.ok("create_instance", processDefinitionKey=definition)["processInstanceKey"]

    moved, kept, finished = create(), create(), create()
    # `moved`: terminate `first`, start `inner_b` (its sub-process is created around it).
    h.ok(
        "modify_instance",
        processInstanceKey=moved,
        terminate=[_tokens(h, moved)["first"]],
        activate=[{"elementId": "inner_b"}],
    )
    # `finished`: the token jumps from `first` to `last`, which then completes.
    h.ok(
        "modify_instance",
        processInstanceKey=finished,
        terminate=[_tokens(h, finished)["first"]],
        activate=[{"elementId": "last"}],
    )
    h.complete(finished, "last")
    check(h)
    stats = _element_stats(h, definition)
    assert stats == _from_history(h)
    assert {e: tuple(r.values()) for e, r in stats.items()} == {
        # (active, completed, terminated, incidents)
        "start": (0, 3, 0, 0),
        "first": (1, 0, 2, 0),  # `kept` waits there; `moved` and `finished` were moved away
        "sp": (1, 0, 0, 0),
        "inner_b": (1, 0, 0, 0),  # started at: `inner_a` and `s_in` never ran
        "last": (0, 1, 0, 0),
        "end": (0, 1, 0, 0),
    }
    assert _definition_stats(h) == {
        definition: {"active": 2, "completed": 1, "failed": 0, "terminated": 0}
    }
    assert _page(h, activity_id="first") == ([kept], None)
    assert _page(h, activity_id="inner_b") == ([moved], None)
    assert _page(h, activity_id="sp") == ([moved], None)
    assert _page(h, activity_id="last") == ([], None)
    assert _page(h, state="completed") == ([finished], 1)
    assert _page(h, state="active", process_definition_key=definition) == ([moved, kept], 2)

    # Terminating the last token of `moved` ends its sub-process and then the instance.
    h.ok("modify_instance", processInstanceKey=moved, terminate=[_tokens(h, moved)["inner_b"]])
    assert h.instance(moved)["state"] == "terminated"
    check(h)
    stats = _element_stats(h, definition)
    assert stats == _from_history(h)
    assert stats["sp"] == {"active": 0, "completed": 0, "terminated": 1, "incidents": 0}
    assert stats["inner_b"] == {"active": 0, "completed": 0, "terminated": 1, "incidents": 0}
    assert _page(h, state="terminated") == ([moved], 1)
    assert _page(h, activity_id="sp") == ([], None)

    # Retention deletes the two ended instances: only `kept`'s share of every count is left,
    # exactly what a partition that only ever held `kept` would have.
    h.ok("purge_history", now_ms=h.now_ms + 1, defaultTtlMs=0, limit=10)
    check(h)
    assert (
        _element_stats(h, definition)
        == _from_history(h)
        == {
            "start": {"active": 0, "completed": 1, "terminated": 0, "incidents": 0},
            "first": {"active": 1, "completed": 0, "terminated": 0, "incidents": 0},
        }
    )
    assert _definition_stats(h) == {
        definition: {"active": 1, "completed": 0, "failed": 0, "terminated": 0}
    }
    assert _page(h) == ([kept], 1)
    alone = Harness()
    assert alone.deploy(MODIFIED)["processDefinitionKey"] == definition
    alone.ok("create_instance", processDefinitionKey=definition)
    assert _counters(h) == _counters(alone)


def _counters(h: Harness) -> dict[bytes, bytes]:
    """The statistics counters of `h` (no instance keys in them: two stores holding the same
    instances of the same definitions have the same counters)."""
    index = h.store.tables["index"]
    return {k: v for k, v in index.items() if k.startswith(search.DEFINITION_COUNTS)} | {
        k: v for k, v in index.items() if k.startswith(search.ELEMENT_COUNTS)
    }


def check(h: Harness) -> None:
    """Every search row is what the instances held now imply (helpers.check_search)."""
    tables = h.store.tables
    instances = {records.from_u64(k): records.loads(v) for k, v in tables["instances"].items()}
    check_search(tables, instances)
