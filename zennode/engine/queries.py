"""Read-only views of the engine state in the shapes the REST API returns.

Every function takes a read transaction (`KVRead`) and returns JSON-ready dicts with camelCase
keys; unknown keys raise NotFound. Lists are bounded by `PAGE_SIZE_MAX` per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from zennode import dmn
from zennode.engine import decisions as ds
from zennode.engine import history, records, search
from zennode.engine import state as st
from zennode.engine.storage import KVRead
from zennode.errors import BadRequest, NotFound

PAGE_SIZE_MAX = 1000
# `GET /v1/jobs` and `/v1/incidents` count their matches up to this many (or the page's end):
# past it totalCount is left out rather than paid for with a walk of every match.
COUNT_MAX = 10_000

T = TypeVar("T")

_JOB_FIELDS = (
    "key",
    "type",
    "elementId",
    "processInstanceKey",
    "elementInstanceKey",
    "processDefinitionKey",
    "bpmnProcessId",
    "processDefinitionVersion",
    "state",
    "createdAt",
    "variables",
    "retries",
    "customHeaders",
    "worker",
    "deadline",
    "errorMessage",
    "errorCode",
    "activatableAt",
    "assignee",
)


def _page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0 or limit > PAGE_SIZE_MAX:
        raise BadRequest(f"offset must be >= 0 and limit between 0 and {PAGE_SIZE_MAX}")


def _counted_page(
    matches: Iterable[T], offset: int, limit: int, count_max: int | None
) -> tuple[list[T], int | None]:
    """The matches at [offset, offset + limit) and how many match in all. Counting walks every
    match, so it stops after `count_max` (or the page's end, if further): then the count is
    None, unknown. `count_max=None` counts all (lists bounded by one instance's size)."""
    stop = None if count_max is None else max(offset + limit, count_max)
    page: list[T] = []
    total = 0
    for match in matches:
        if total == stop:
            return page, None
        if offset <= total < offset + limit:
            page.append(match)
        total += 1
    return page, total


# ---------------------------------------------------------------- definitions


def _definition_view(record: dict[str, Any], with_xml: bool) -> dict[str, Any]:
    view = {
        "processDefinitionKey": record["processDefinitionKey"],
        "bpmnProcessId": record["bpmnProcessId"],
        "version": record["version"],
        "name": record.get("name", ""),
        "resourceName": record.get("resourceName", ""),
        "deployedAt": record.get("deployedAt"),
        "deploymentKey": record.get("deploymentKey"),
    }
    if with_xml:
        view["xml"] = record["xml"]
    return view


def get_definition(txn: KVRead, key: int) -> dict[str, Any]:
    record = st.get_definition(txn, key)
    if record is None:
        raise NotFound(f"process definition {key} not found")
    return _definition_view(record, with_xml=True)


def list_definitions(
    txn: KVRead, bpmn_process_id: str | None = None, offset: int = 0, limit: int = PAGE_SIZE_MAX
) -> tuple[list[dict[str, Any]], int]:
    """Definitions ordered by bpmnProcessId then version; returns (page, total count)."""
    _page(offset, limit)
    prefix = records.text(bpmn_process_id) if bpmn_process_id else b""
    items = []
    total = 0
    for _, raw_key in txn.scan("definitions_by_id", prefix):
        if offset <= total < offset + limit:
            record = st.get_definition(txn, records.from_u64(raw_key))
            if record is not None:
                items.append(_definition_view(record, with_xml=False))
        total += 1
    return items, total


# ---------------------------------------------------------------- decisions


def get_decision(txn: KVRead, key: int) -> dict[str, Any]:
    """A deployed decision with its document's XML."""
    record = ds.get_decision(txn, key)
    if record is None:
        raise NotFound(f"decision definition {key} not found")
    drg = ds.get_drg(txn, record["decisionRequirementsKey"])
    assert drg is not None, f"decision {key} without its requirements"
    return {**record, "xml": drg["xml"]}


def list_decisions(
    txn: KVRead, decision_id: str | None = None, offset: int = 0, limit: int = PAGE_SIZE_MAX
) -> tuple[list[dict[str, Any]], int]:
    """Decisions ordered by decisionId then version; returns (page, total count)."""
    _page(offset, limit)
    return ds.list_decisions(txn, decision_id, offset, limit)


def evaluate_decision(
    txn: KVRead,
    now_ms: int,
    variables: dict[str, Any],
    decision_id: str | None = None,
    decision_key: int | None = None,
) -> dict[str, Any]:
    """Evaluate the latest version of `decision_id`, or the decision `decision_key`.

    A failing decision is not an error of the request: the answer names it
    (`failedDecisionId`, `failureMessage`), as Zeebe's EvaluateDecision does."""
    if not isinstance(variables, dict):
        raise BadRequest("variables must be a JSON object")
    if decision_key is not None:
        record = ds.get_decision(txn, decision_key)
        if record is None:
            raise NotFound(f"decision definition {decision_key} not found")
    elif decision_id:
        record = ds.resolve(txn, decision_id)
    else:
        raise BadRequest("give decisionId or decisionKey")
    try:
        result = ds.evaluate(txn, record, variables, now_ms)
    except dmn.DecisionError as exc:
        return ds.failure_view(txn, record, exc)
    return ds.result_view(txn, record, result)


# ---------------------------------------------------------------- instances


def _instance_view(record: dict[str, Any]) -> dict[str, Any]:
    view = {
        "processInstanceKey": record["processInstanceKey"],
        "processDefinitionKey": record["processDefinitionKey"],
        "bpmnProcessId": record["bpmnProcessId"],
        "version": record["version"],
        "state": search.display_state(record),
        "variables": record["variables"],
        "createdAt": record["createdAt"],
        "activeElementInstances": [
            _element_view(int(key), ei) for key, ei in record["elements"].items()
        ],
        "incidents": record["incidents"],
    }
    if "endedAt" in record:
        view["endedAt"] = record["endedAt"]
    if "businessKey" in record:
        view["businessKey"] = record["businessKey"]
    parent = record.get("parent")
    if parent:  # a child of a call activity
        view["parentProcessInstanceKey"] = parent["processInstanceKey"]
        view["parentElementInstanceKey"] = parent["elementInstanceKey"]
    return view


def _element_view(key: int, record: dict[str, Any]) -> dict[str, Any]:
    view = {
        "elementInstanceKey": key,
        "elementId": record["elementId"],
        "elementType": record["elementType"],
        "state": record["state"],
        "scopeKey": record["scope"],  # the element instance (or instance) it runs in
    }
    if "childKey" in record:  # a call activity: the instance it waits for
        view["childProcessInstanceKey"] = record["childKey"]
    if record.get("locals"):  # the variables of this element instance's scope
        view["variables"] = record["locals"]
    return view


def get_instance(txn: KVRead, key: int) -> dict[str, Any]:
    record = st.get_instance(txn, key)
    if record is None:
        raise NotFound(f"process instance {key} not found")
    return _instance_view(record)


def list_instances(
    txn: KVRead,
    offset: int = 0,
    limit: int = PAGE_SIZE_MAX,
    sort_by: str = "key",
    sort_order: str = "asc",
    **filters: Any,
) -> tuple[list[dict[str, Any]], int | None]:
    """Instances matching `filters` (the fields of `search.Filters`) in the requested order,
    from the search indexes (cost: see engine/search/); returns (page, total count or None
    when only a scan could count it)."""
    _page(offset, limit)
    try:
        wanted = search.Filters(**filters)
    except TypeError as exc:
        raise BadRequest(f"unknown instance filter: {exc}") from exc
    keys, total = search.search(txn, wanted, sort_by, sort_order, offset, limit)
    items = []
    for key in keys:
        record = st.get_instance(txn, key)
        assert record is not None, f"search index names instance {key}, which is gone"
        items.append(_instance_view(record))
    return items, total


def definition_statistics(txn: KVRead) -> list[dict[str, Any]]:
    """Instances per definition and state held by this partition."""
    return search.definition_statistics(txn)


def element_statistics(txn: KVRead, definition_key: int) -> list[dict[str, Any]]:
    """Per element of a definition: active, completed, terminated, incidents (this partition)."""
    if not st.definition_exists(txn, definition_key):
        raise NotFound(f"process definition {definition_key} not found")
    return search.element_statistics(txn, definition_key)


def _known_instance(txn: KVRead, key: int) -> dict[str, Any]:
    record = st.get_instance(txn, key)
    if record is None:
        raise NotFound(f"process instance {key} not found")
    return record


def instance_history(
    txn: KVRead, key: int, offset: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int, bool]:
    """Every element instance of an instance in start order, from its history rows
    (`engine.history`): (page, total, truncated: it stopped at `history.ENTRIES_MAX`)."""
    _page(offset, limit)
    record = _known_instance(txn, key)
    items = history.view(txn, key)
    return items[offset : offset + limit], len(items), history.is_truncated(record)


def instance_jobs(
    txn: KVRead, key: int, offset: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """The jobs of one instance in key order (its `jobs_by_instance` rows)."""
    _known_instance(txn, key)
    items, total = list_jobs(txn, instance_key=key, offset=offset, limit=limit, count_max=None)
    assert total is not None
    return items, total


def instance_incidents(
    txn: KVRead,
    key: int,
    offset: int = 0,
    limit: int = 100,
    incident_state: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The incidents of one instance in key order (its `incidents_by_instance` rows)."""
    _known_instance(txn, key)
    items, total = list_incidents(
        txn,
        instance_key=key,
        offset=offset,
        limit=limit,
        incident_state=incident_state,
        count_max=None,
    )
    assert total is not None
    return items, total


def child_instances(
    txn: KVRead, key: int, offset: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """The instances the call activities of instance `key` started, in key order, running
    or ended. A child lives on its parent's partition, listed by the parent's rows
    `cp\\0 parent child` (written when the call activity starts it)."""
    _page(offset, limit)
    _known_instance(txn, key)
    items = []
    total = 0
    for row, _ in txn.scan("index", records.CHILD_OF_PREFIX + records.u64(key)):
        if offset <= total < offset + limit:
            child = st.get_instance(
                txn, records.second_of_pair(row[len(records.CHILD_OF_PREFIX) :])
            )
            assert child is not None, f"child row of {key} without its instance"
            items.append(_instance_view(child))
        total += 1
    return items, total


def _timer_view(txn: KVRead, timer_key: int) -> dict[str, Any] | None:
    raw_due = txn.get("index", records.timer_index_key(timer_key))
    raw = (
        txn.get("timers", records.timer_row(records.from_u64(raw_due), timer_key))
        if raw_due
        else None
    )
    if raw is None:
        return None
    timer = records.loads(raw)
    view = {
        "type": "timer",
        "key": timer_key,
        "elementId": timer["elementId"],
        "dueDate": timer["due"],
    }
    if timer.get("repetitionsLeft") is not None:
        view["repetitionsLeft"] = timer["repetitionsLeft"]
    return view


def _subscription_view(txn: KVRead, sub_key: int) -> dict[str, Any] | None:
    raw = txn.get("subscriptions", records.SUB_PROCESS_SIDE + records.u64(sub_key))
    if raw is None:
        return None
    sub = records.loads(raw)
    if "signalName" in sub:
        return {
            "type": "signal",
            "key": sub_key,
            "elementId": sub["elementId"],
            "signalName": sub["signalName"],
        }
    return {
        "type": "message",
        "key": sub_key,
        "elementId": sub["elementId"],
        "messageName": sub["messageName"],
        "correlationKey": sub["correlationKey"],
    }


EVENT_SUBSCRIPTION_TYPES = ("message", "timer", "signal")


def event_subscriptions(
    txn: KVRead,
    key: int,
    offset: int = 0,
    limit: int = 100,
    subscription_type: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The open timers, message and signal subscriptions of an instance, in key order: what
    its record and its waiting element instances hold (`timers`, `subs`), nothing scanned.
    An ended instance has none (they close with it)."""
    _page(offset, limit)
    if subscription_type is not None and subscription_type not in EVENT_SUBSCRIPTION_TYPES:
        raise BadRequest(f"type must be one of {', '.join(EVENT_SUBSCRIPTION_TYPES)}")
    instance = _known_instance(txn, key)
    owners = [(None, instance)] + [(int(k), r) for k, r in instance["elements"].items()]
    found: list[dict[str, Any]] = []
    for owner_key, owner in owners:
        views = [_timer_view(txn, t) for t in owner.get("timers") or ()]
        views += [_subscription_view(txn, s) for s in owner.get("subs") or ()]
        for view in views:
            if view is None or (subscription_type and view["type"] != subscription_type):
                continue
            view.update(
                processInstanceKey=key,
                processDefinitionKey=instance["processDefinitionKey"],
                elementInstanceKey=owner_key,
                state="active",
            )
            found.append(view)
    found.sort(key=lambda v: v["key"])
    return found[offset : offset + limit], len(found)


# ---------------------------------------------------------------- jobs


def _job_view(job: dict[str, Any]) -> dict[str, Any]:
    return {name: job[name] for name in _JOB_FIELDS if name in job}


def get_job(txn: KVRead, key: int) -> dict[str, Any]:
    job = st.get_job(txn, key)
    if job is None:
        raise NotFound(f"job {key} not found")
    return _job_view(job)


def _job_keys(
    txn: KVRead,
    job_state: str | None,
    job_type: str | None,
    instance_key: int | None,
    assignee: str | None = None,
) -> Iterator[int]:
    """Job keys matching the filters, from the narrowest index available."""
    if instance_key is not None:
        for index_key, _ in txn.scan("jobs_by_instance", records.u64(instance_key)):
            yield records.second_of_pair(index_key)
    elif assignee is not None:
        for index_key, _ in txn.scan("index", records.JOB_ASSIGNEE_PREFIX + records.text(assignee)):
            yield records.from_u64(index_key[-8:])
    elif job_state is not None:
        for index_key, _ in txn.scan(
            "jobs_by_state", records.job_state_prefix(job_state, job_type)
        ):
            yield records.from_u64(index_key[-8:])
    else:
        for raw_key, _ in txn.scan("jobs"):
            yield records.from_u64(raw_key)


def _matching_jobs(
    txn: KVRead,
    state: str | None,
    job_type: str | None,
    instance_key: int | None,
    assignee: str | None,
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(key, job) of every job matching all filters; the job is None where the index alone
    decided the match (it is read only for the page)."""
    needs_record_filter = (
        instance_key is not None or assignee is not None or (state is None and job_type is not None)
    )
    for key in _job_keys(txn, state, job_type, instance_key, assignee):
        job = None
        if needs_record_filter:
            job = st.get_job(txn, key)
            if job is None:
                continue
            if state is not None and job["state"] != state:
                continue
            if job_type is not None and job["type"] != job_type:
                continue
            if assignee is not None and job.get("assignee") != assignee:
                continue
        yield key, job


def list_jobs(
    txn: KVRead,
    state: str | None = None,
    job_type: str | None = None,
    instance_key: int | None = None,
    offset: int = 0,
    limit: int = 100,
    assignee: str | None = None,
    count_max: int | None = COUNT_MAX,
) -> tuple[list[dict[str, Any]], int | None]:
    """Jobs matching every given filter, in key order per index; returns (page, total count),
    the count None past `count_max` matches (see `_counted_page`)."""
    _page(offset, limit)
    matches = _matching_jobs(txn, state, job_type, instance_key, assignee)
    page, total = _counted_page(matches, offset, limit, count_max)
    items = []
    for key, job in page:
        job = job or st.get_job(txn, key)
        if job is not None:
            items.append(_job_view(job))
    return items, total


# ---------------------------------------------------------------- incidents


_INCIDENT_FIELDS = (
    "key",
    "processInstanceKey",
    "processDefinitionKey",
    "bpmnProcessId",
    "elementInstanceKey",
    "elementId",
    "jobKey",
    "errorType",
    "message",
    "state",
    "createdAt",
    "resolvedAt",
)


def _incident_view(incident: dict[str, Any]) -> dict[str, Any]:
    return {name: incident[name] for name in _INCIDENT_FIELDS if name in incident}


def get_incident(txn: KVRead, key: int) -> dict[str, Any]:
    incident = st.get_incident(txn, key)
    if incident is None:
        raise NotFound(f"incident {key} not found")
    return _incident_view(incident)


def list_incidents(
    txn: KVRead,
    instance_key: int | None = None,
    offset: int = 0,
    limit: int = 100,
    incident_state: str | None = None,
    count_max: int | None = COUNT_MAX,
) -> tuple[list[dict[str, Any]], int | None]:
    """Incidents (optionally of one instance / in one state) in key order; (page, total), the
    total None past `count_max` matches (see `_counted_page`)."""
    _page(offset, limit)
    if instance_key is not None:
        keys: Iterator[int] = (
            records.second_of_pair(k)
            for k, _ in txn.scan("incidents_by_instance", records.u64(instance_key))
        )
    else:
        keys = (records.from_u64(k) for k, _ in txn.scan("incidents"))
    incidents = (st.get_incident(txn, key) for key in keys)
    matches = (
        incident
        for incident in incidents
        if incident is not None and (incident_state is None or incident["state"] == incident_state)
    )
    page, total = _counted_page(matches, offset, limit, count_max)
    return [_incident_view(incident) for incident in page], total
