"""The console's pages checked line by line against what the issue asks of them, in a real
browser against a real node: the instance search with every filter the API has (in another
time zone than the node's), open incidents on two partitions resolved with new retries, jobs
filtered by type and state and failed by hand with variables, the path taken drawn on the
diagram, and keys of partition 4 and up (beyond JavaScript's 2^53) kept exact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from support.bpmn import calling, one_task
from support.nodes import NodeThread
from support.waits import wait_until

from .test_browser import MODEL, drop_file, message, shape, shot

PARTITION_SHIFT = 51  # a key is partition id << 51 | counter
ZONE = "America/New_York"  # the browser's time zone; the node's clock is UTC


def partition_of(key: int) -> int:
    return key >> PARTITION_SHIFT


def items(answer: Any) -> list[dict[str, Any]]:
    return [row for p in answer.json()["partitions"] for row in p["items"]]


def start(api: Any, body: dict[str, Any]) -> int:
    created = api.post("/v1/process-instances", json=body)
    assert created.status_code == 201, created.text
    return int(created.json()["processInstanceKey"])


def review_on_two_partitions(api: Any) -> dict[int, int]:
    """Start review-order instances until partitions 1 and 2 each hold one (creates are spread
    over the partitions); returns partition -> instance key."""
    by_partition: dict[int, int] = {}
    for _ in range(8):
        key = start(api, {"bpmnProcessId": "review-order"})
        by_partition.setdefault(partition_of(key), key)
        if len(by_partition) == 2:
            break
    assert sorted(by_partition) == [1, 2]
    return by_partition


def job_of(api: Any, instance: int, job_type: str) -> dict[str, Any]:
    jobs = api.get("/v1/jobs", params={"processInstanceKey": instance, "jobType": job_type})
    (job,) = items(jobs)
    return job


def submitted(page: Any, section: str, button: Any) -> None:
    """Click a filter form's button and wait until the list `#section` is drawn anew (the page
    builds a new section element per route: the old one is marked first, so its rows are
    never taken for the new ones)."""
    page.evaluate(f"document.getElementById('{section}').dataset.stale = 'yes'")
    button.click()
    fresh = f"#{section}:not([data-stale])"
    page.locator(f"{fresh} table, {fresh} p").first.wait_for()


def search(page: Any, **fields: str) -> list[str]:
    """Fill the instance search form (empty strings clear a field), submit, and return the
    instance keys listed, in the order shown."""
    form = page.locator("#instance-search")
    for name, value in fields.items():
        control = form.locator(f"[name={name}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    submitted(page, "instances", form.get_by_role("button", name="Search"))
    return page.locator("#instances tbody tr td:first-child").all_inner_texts()


def test_instance_search_with_every_filter(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    runner = start_node(partitions=2)
    api = client_for(runner)
    review = api.post("/v1/process-definitions", content=MODEL.read_bytes()).json()
    for model in (one_task("child", "work"), calling("parent", "child")):
        assert api.post("/v1/process-definitions", content=model).status_code == 201
    orders = [
        start(api, {"bpmnProcessId": "review-order", "businessKey": f"order-{n}"}) for n in range(3)
    ]
    parent = start(api, {"bpmnProcessId": "parent"})
    (child,) = wait_until(
        lambda: items(api.get("/v1/process-instances", params={"bpmnProcessId": "child"})),
        10,
        "the called instance",
    )
    child_key = str(child["processInstanceKey"])
    job = job_of(api, orders[0], "review")
    assert api.post(f"/v1/jobs/{job['key']}/complete", json={}).status_code == 204
    api.post(f"/v1/process-instances/{orders[2]}/cancel").raise_for_status()
    everything = {str(k) for k in (*orders, parent)} | {child_key}

    # the browser is in New York; typed times are New York times
    page.context.new_cdp_session(page).send("Emulation.setTimezoneOverride", {"timezoneId": ZONE})
    page.goto(f"{runner.url}/console/#/instances")
    page.locator("#instances tbody tr").nth(len(everything) - 1).wait_for()
    assert set(page.locator("#instances tbody tr td:first-child").all_inner_texts()) == everything

    assert search(page, bpmnProcessId="child") == [child_key]
    assert search(page, bpmnProcessId="", parentProcessInstanceKey=str(parent)) == [child_key]
    shown = search(
        page, parentProcessInstanceKey="", processDefinitionKey=str(review["processDefinitionKey"])
    )
    assert set(shown) == {str(k) for k in orders}
    assert search(page, activityId="Ship") == [str(orders[0])]
    assert search(page, activityId="", state="terminated") == [str(orders[2])]
    assert search(page, state="", businessKey="order-1") == [str(orders[1])]
    row = page.locator("#instances tbody tr").first
    assert "order-1" in row.inner_text() and "active" in row.inner_text()

    # created from / to, to the second, in the browser's zone (a minute ago: before them all)
    earlier = (datetime.now(ZoneInfo(ZONE)) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.locator("#instance-search [name=businessKey]").fill("")
    assert search(page, processDefinitionKey="", createdTo=earlier) == []
    page.locator("#instances", has_text="No instance matches.").wait_for()
    assert page.locator("#instance-search [name=createdTo]").input_value() == earlier
    assert set(search(page, createdTo="", createdFrom=earlier)) == everything

    # sorted across both partitions: the merged page is in the asked order
    by_key = sorted(everything, key=int, reverse=True)
    assert search(page, createdFrom="", sortBy="key", sortOrder="desc") == by_key
    listed = {
        str(i["processInstanceKey"]): i
        for i in items(api.get("/v1/process-instances", params={"size": 20}))
    }
    assert {partition_of(int(k)) for k in listed} == {1, 2}
    by_time = sorted(everything, key=lambda k: (listed[k]["createdAt"], int(k)))
    assert search(page, sortBy="createdAt", sortOrder="asc") == by_time
    states = search(page, sortBy="state", sortOrder="asc")
    order = ["active", "completed", "failed", "terminated"]
    assert states == sorted(everything, key=lambda k: (order.index(listed[k]["state"]), int(k)))
    shot(page, "instances")

    # a value the API refuses: its message, in place of the list
    search(page, sortBy="", sortOrder="", processDefinitionKey="not-a-number")
    refused = page.locator("#instances .message.error")
    assert "processDefinitionKey" in refused.inner_text() and "HTTP 400" in refused.inner_text()


def test_open_incidents_on_two_partitions_resolved_with_new_retries(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    runner = start_node(partitions=2)
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    by_partition = review_on_two_partitions(api)
    jobs = {}
    for partition, key in by_partition.items():
        jobs[partition] = job_of(api, key, "review")
        body = {"retries": 0, "message": f"stock system down (partition {partition})"}
        assert api.post(f"/v1/jobs/{jobs[partition]['key']}/fail", json=body).status_code == 204

    page.goto(f"{runner.url}/console/#/incidents")
    rows = page.locator("#incidents tbody tr")
    for partition in (1, 2):
        rows.filter(has_text=f"stock system down (partition {partition})").wait_for()
    assert rows.count() == 2
    shot(page, "incidents")

    # resolve partition 2's with 3 new retries: the job can be worked on again
    row = rows.filter(has_text="partition 2")
    row.locator("input[name=retries]").fill("3")
    row.get_by_role("button", name="Resolve").click()
    message(page, "ok", "resolved").wait_for()
    rows.nth(1).wait_for(state="detached")
    assert "partition 1" in rows.first.inner_text()
    job = api.get(f"/v1/jobs/{jobs[2]['key']}").json()
    assert job["retries"] == 3 and job["state"] != "failed"

    # partition 1's from its instance page: the red mark goes, the instance is active again
    first = by_partition[1]
    page.goto(f"{runner.url}/console/#/instances/{first}")
    shape(page, "Review").and_(page.locator(".zn-incident")).wait_for()
    incident = page.locator("#instance-incidents tbody tr", has_text="partition 1")
    incident.locator("input[name=retries]").fill("2")
    incident.get_by_role("button", name="Resolve").click()
    page.locator("#instance-state", has_text="active").wait_for()
    shape(page, "Review").and_(page.locator(".zn-active")).wait_for()
    assert "zn-incident" not in (shape(page, "Review").get_attribute("class") or "")
    assert api.get(f"/v1/jobs/{jobs[1]['key']}").json()["retries"] == 2
    page.goto(f"{runner.url}/console/#/incidents")
    page.locator("#incidents", has_text="No incident.").wait_for()

    # a resolve the API refuses (resolved meanwhile elsewhere) shows its message
    again = {"retries": 0, "message": "down again"}
    assert api.post(f"/v1/jobs/{jobs[1]['key']}/fail", json=again).status_code == 204
    page.reload()
    row = rows.filter(has_text="down again")
    row.wait_for()
    (open_incident,) = items(api.get("/v1/incidents", params={"state": "active"}))
    assert api.post(f"/v1/jobs/{jobs[1]['key']}/retries", json={"retries": 1}).status_code == 204
    resolved = api.post(f"/v1/incidents/{open_incident['key']}/resolve")
    assert resolved.status_code == 204
    row.get_by_role("button", name="Resolve").click()
    refused = message(page, "error", f"Resolve incident {open_incident['key']}")
    refused.wait_for()
    assert "HTTP 4" in refused.inner_text()


def test_jobs_filtered_by_type_and_state_and_failed_with_variables(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    runner = start_node()
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    done, waiting = (start(api, {"bpmnProcessId": "review-order"}) for _ in range(2))
    finished = job_of(api, done, "review")
    assert api.post(f"/v1/jobs/{finished['key']}/complete", json={}).status_code == 204

    def listed(job_type: str, state: str) -> list[str]:
        form = page.locator("#job-filters")
        form.locator("input[name=jobType]").fill(job_type)
        form.locator("select[name=state]").select_option(state)
        submitted(page, "jobs", form.get_by_role("button", name="Filter"))
        return [r.inner_text() for r in page.locator("#jobs tbody tr").all()]

    page.goto(f"{runner.url}/console/#/jobs")
    page.locator("#jobs tbody tr").nth(1).wait_for()  # active: ship of one, review of the other
    (ship,) = listed("ship", "active")
    assert str(done) in ship
    (review,) = listed("review", "completed")
    assert str(done) in review and "completed" in review
    assert len(listed("review", "")) == 2
    (open_review,) = listed("review", "active")
    assert str(waiting) in open_review

    # fail it by hand: one retry left, a message and variables -> it is active again
    def fail(retries: str, why: str, variables: str) -> None:
        row = page.locator("#jobs tbody tr", has_text=str(waiting))
        row.get_by_role("button", name="Fail…").click()
        form = row.locator(".fail-form")
        form.locator("input[name=retries]").fill(retries)
        form.locator("input[name=message]").fill(why)
        form.locator("textarea[name=variables]").fill(variables)
        form.get_by_role("button", name="Fail job").click()

    fail("1", "scanner jammed", '{"jammed": true}')
    message(page, "ok", "failed").wait_for()
    # (the list is read again in place after an action: same filter, same route)
    again = page.locator("#jobs tbody tr", has_text="scanner jammed")
    again.wait_for()
    assert str(waiting) in again.inner_text()
    job = job_of(api, waiting, "review")
    assert job["state"] == "active" and job["retries"] == 1
    assert job["variables"]["jammed"] is True  # the next worker gets them

    # no retries left: failed, with an incident; the failed filter lists it
    fail("0", "scanner broken", "{}")
    message(page, "ok", "an incident is raised").wait_for()
    (failed,) = listed("review", "failed")
    assert "scanner broken" in failed and str(waiting) in failed
    assert job_of(api, waiting, "review")["state"] == "failed"
    shot(page, "jobs")


def test_jobs_assigned_from_the_page_and_filtered_by_assignee(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """A job assigned through the Jobs page's form, another through the API on the other
    partition: the Assignee filter lists exactly each user's job, with the column showing who;
    re-assigning moves the job from one user's list to the other's."""
    runner = start_node(partitions=2)
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    by_partition = review_on_two_partitions(api)
    mine, theirs = by_partition[1], by_partition[2]
    theirs_job = job_of(api, theirs, "review")
    assigned = api.post(f"/v1/jobs/{theirs_job['key']}/assign", json={"assignee": "bob"})
    assert assigned.status_code == 204, assigned.text

    def assign_in_page(instance: int, who: str) -> None:
        row = page.locator("#jobs tbody tr", has_text=str(instance))
        row.get_by_role("button", name="Assign…").click()
        form = row.locator(".assign-form")
        form.locator("input[name=assignee]").fill(who)
        form.get_by_role("button", name="Assign job").click()
        message(page, "ok", f"assigned to {who}").wait_for()

    def listed(assignee: str) -> list[str]:
        form = page.locator("#job-filters")
        form.locator("input[name=jobType]").fill("review")
        form.locator("select[name=state]").select_option("")
        form.locator("input[name=assignee]").fill(assignee)
        submitted(page, "jobs", form.get_by_role("button", name="Filter"))
        return [r.inner_text() for r in page.locator("#jobs tbody tr").all()]

    page.goto(f"{runner.url}/console/#/jobs?jobType=review&state=active")
    page.locator("#jobs tbody tr", has_text=str(mine)).wait_for()
    assign_in_page(mine, "alice")
    assert job_of(api, mine, "review")["assignee"] == "alice"  # the page's form did it

    (alice,) = listed("alice")
    assert str(mine) in alice and "alice" in alice
    (bob,) = listed("bob")
    assert str(theirs) in bob and "bob" in bob
    assert listed("carol") == []
    assert page.locator("#jobs", has_text="No job matches.").count() == 1
    everyone = listed("")
    assert len(everyone) == 2
    assert any("alice" in row for row in everyone) and any("bob" in row for row in everyone)
    assert "assignee=" not in page.url  # an empty filter is no filter

    # re-assign bob's job to alice from the page: it leaves bob's list for alice's
    assign_in_page(theirs, "alice")
    assert listed("bob") == []
    assert sorted(str(mine) in row for row in listed("alice")) == [False, True]


def test_the_path_taken_is_drawn_on_the_diagram(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """A .bpmn dropped on the Processes page; its instance's path (completed elements and the
    flows between them) drawn on the diagram and listed; cancelled, Ship shows terminated."""
    runner = start_node()
    api = client_for(runner)
    page.goto(f"{runner.url}/console/#/processes")
    page.locator("#definitions", has_text="No process deployed yet").wait_for()
    drop_file(page, "review.bpmn", MODEL.read_text())
    page.locator(".deployed", has_text="Deployed review.bpmn: review-order version 1").wait_for()
    key = start(api, {"bpmnProcessId": "review-order", "variables": {"amount": 12}})
    job = job_of(api, key, "review")
    assert (
        api.post(
            f"/v1/jobs/{job['key']}/complete", json={"variables": {"approved": True}}
        ).status_code
        == 204
    )

    page.goto(f"{runner.url}/console/#/instances/{key}")
    shape(page, "Ship").and_(page.locator(".zn-active")).wait_for()
    for done in ("Start", "Review", "Flow1", "Flow2"):
        # (a flow's group has no box of its own: attached, not "visible")
        shape(page, done).and_(page.locator(".zn-done, .zn-taken")).wait_for(state="attached")
    assert "zn-taken" not in (shape(page, "Flow3").get_attribute("class") or "")
    steps = page.locator("#history tbody tr")
    assert [s.locator("td").first.inner_text() for s in steps.all()] == ["Start", "Review", "Ship"]
    page.locator("#modify tbody tr", has_text="Ship").wait_for()
    shot(page, "instance", full_page=True)

    assert api.post(f"/v1/process-instances/{key}/cancel").status_code == 204
    page.reload()
    page.locator("#instance-state", has_text="terminated").wait_for()
    shape(page, "Ship").and_(page.locator(".zn-terminated")).wait_for()
    assert "terminated" in steps.filter(has_text="Ship").inner_text()


def test_keys_beyond_two_to_the_53_stay_exact(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """Partition 4's keys (4 << 51 and up) do not fit a JavaScript number: the console keeps
    them as they are, so its links, local variables and cancel reach the right instance."""
    runner = start_node(partitions=4)
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    big = 0
    for _ in range(12):
        key = start(api, {"bpmnProcessId": "review-order"})
        if key > 2**53:
            big = key
            break
    assert big, "no instance landed on partition 4"
    page.goto(f"{runner.url}/console/#/instances?bpmnProcessId=review-order")
    page.get_by_role("link", name=str(big), exact=True).click()
    page.locator("h1", has_text=f"Instance {big}").wait_for()
    page.locator("#instance-state", has_text="active").wait_for()
    (element,) = api.get(f"/v1/process-instances/{big}").json()["activeElementInstances"]
    form = page.locator("#add-variable")
    scope = form.locator("option", has_text=str(element["elementInstanceKey"]))
    form.locator("select[name=scope]").select_option(scope.get_attribute("value"))
    form.locator("input[name=name]").fill("note")
    form.locator("input[name=value]").fill('"exact"')
    form.get_by_role("button", name="Add / set").click()
    message(page, "ok", "note set").wait_for()
    (element,) = api.get(f"/v1/process-instances/{big}").json()["activeElementInstances"]
    assert element["variables"] == {"note": "exact"}
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#cancel-instance").click()
    page.locator("#instance-state", has_text="terminated").wait_for()
    assert api.get(f"/v1/process-instances/{big}").json()["state"] == "terminated"
