"""The console in a real browser (Chromium through Playwright) against a real node: what a
person sees and does — deploy, start, the active task highlighted on the diagram, complete a
job from the Jobs page, fail one into an incident and resolve it, the instances complete.

Set ZENNODE_CONSOLE_SCREENSHOTS=<folder> to also save a screenshot of each page there (how the
pictures in docs/console/ are made)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.bpmn import one_task
from support.dmn import discount_table
from support.nodes import NodeThread

from zennode.config import Config

MODEL = Path(__file__).parent / "models" / "review.bpmn"
SHOTS = os.environ.get("ZENNODE_CONSOLE_SCREENSHOTS")
TOKEN = "console-browser-token"
PAGE = 20  # the console's page size


def shot(page: Any, name: str, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


def visit(page: Any, url: str) -> None:
    """Open a console route; the route already shown is loaded again (a hash change alone
    would not render it anew)."""
    if page.url == url:
        page.reload()
    else:
        page.goto(url)


def shape(page: Any, element_id: str) -> Any:
    """The SVG group bpmn-js draws for a BPMN element (markers are classes on it)."""
    return page.locator(f'g.djs-element[data-element-id="{element_id}"]')


def message(page: Any, kind: str, text: str) -> Any:
    return page.locator(f"#messages .message.{kind}", has_text=text)


def start_instance(page: Any, base: str, definition_key: str, variables: str) -> str:
    visit(page, f"{base}/console/#/processes/{definition_key}")
    page.fill("#start-form textarea", variables)
    page.click("#start-form button[type=submit]")
    started = page.locator(".started a")
    started.wait_for()
    return started.inner_text()


def job_row(page: Any, job_type: str, instance_key: str) -> Any:
    visit(page, f"{page.url.split('#')[0]}#/jobs?jobType={job_type}&state=active")
    row = page.locator("#jobs tbody tr", has=page.get_by_role("link", name=instance_key))
    row.wait_for()
    return row


def complete_job(page: Any, job_type: str, instance_key: str, variables: str) -> None:
    row = job_row(page, job_type, instance_key)
    job_key = row.locator("td").first.inner_text()
    row.get_by_role("button", name="Complete…").click()
    row.locator(".complete-form textarea").fill(variables)
    row.get_by_role("button", name="Complete job").click()
    message(page, "ok", f"Job {job_key} completed").wait_for()


def drop_file(page: Any, name: str, text: str) -> None:
    """Drop a file on the deploy zone (a DataTransfer with a File, as a browser builds it from
    a desktop drop)."""
    page.evaluate(
        """([name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name, { type: "text/xml" }));
            document.getElementById("drop-zone")
                .dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
        }""",
        [name, text],
    )


def instance_state(page: Any, base: str, instance_key: str) -> str:
    visit(page, f"{base}/console/#/instances/{instance_key}")
    page.locator("#instance-state").wait_for()
    return page.locator("#instance-state").inner_text()


def test_deploy_start_complete_fail_resolve(
    start_node: Callable[..., NodeThread], page: Any
) -> None:
    runner = start_node(partitions=2)
    base = runner.url

    # deploy through the file chooser; a broken file shows the API's refusal
    visit(page, f"{base}/console/#/processes")
    page.set_input_files("#deploy-file", str(MODEL))
    page.locator(".deployed", has_text="Deployed review.bpmn: review-order version 1").wait_for()
    page.set_input_files(
        "#deploy-file",
        files=[{"name": "broken.bpmn", "mimeType": "text/xml", "buffer": b"<bpmn:nope"}],
    )
    refused = message(page, "error", "Deploy broken.bpmn")
    refused.wait_for()
    assert "BAD_REQUEST" in refused.inner_text()
    page.locator("#definitions").get_by_role("link", name="review-order").wait_for()
    shot(page, "processes")
    definition_key = page.locator("#definitions tbody tr td").nth(3).inner_text()

    # start two instances with variables; bad JSON is refused in the page, with a reason
    visit(page, f"{base}/console/#/processes/{definition_key}")
    page.fill("#start-form textarea", "{amount: 5}")
    page.click("#start-form button[type=submit]")
    message(page, "error", "variables are not valid JSON").wait_for()
    first = start_instance(page, base, definition_key, '{"amount": 5}')
    second = start_instance(page, base, definition_key, '{"amount": 7}')

    # the active task is highlighted on the instance's diagram; variables are listed
    page.get_by_role("link", name=second).click()
    page.locator("#instance-state", has_text="active").wait_for()
    shape(page, "Review").and_(page.locator(".zn-active")).wait_for()
    assert "zn-active" not in (shape(page, "Ship").get_attribute("class") or "")
    assert page.locator(".bjs-powered-by").is_visible()  # bpmn-js's licence: watermark shown
    variables = page.locator("#variables")
    assert variables.locator(".var-name", has_text="amount").count() == 1
    assert "7" in variables.inner_text()
    page.locator("#instance-jobs tbody tr", has_text="review").wait_for()

    # the instances list shows both, active
    visit(page, f"{base}/console/#/instances")
    for key in (first, second):
        row = page.locator("#instances tbody tr", has=page.get_by_role("link", name=key))
        row.wait_for()
        assert "active" in row.inner_text()

    # the first: both jobs completed from the Jobs page -> the instance completes
    complete_job(page, "review", first, '{"approved": true}')
    complete_job(page, "ship", first, "{}")
    assert instance_state(page, base, first) == "completed"
    assert "approved" in page.locator("#variables").inner_text()

    # the second: fail its job with no retries left -> an incident, marked on the diagram
    row = job_row(page, "review", second)
    row.get_by_role("button", name="Fail…").click()
    form = row.locator(".fail-form")
    form.locator("input[name=retries]").fill("0")
    form.locator("input[name=message]").fill("warehouse system is down")
    form.get_by_role("button", name="Fail job").click()
    message(page, "ok", "an incident is raised").wait_for()
    assert instance_state(page, base, second) == "failed"
    shape(page, "Review").and_(page.locator(".zn-incident")).wait_for()
    assert "warehouse system is down" in page.locator("#instance-incidents").inner_text()

    # resolve it from the Incidents page with new retries -> the job is active again
    visit(page, f"{base}/console/#/incidents")
    incident = page.locator("#incidents tbody tr", has_text="warehouse system is down")
    incident.wait_for()
    incident.locator("input[name=retries]").fill("2")
    incident.get_by_role("button", name="Resolve").click()
    message(page, "ok", "resolved").wait_for()
    page.locator("#incidents", has_text="No incident.").wait_for()
    complete_job(page, "review", second, "{}")
    complete_job(page, "ship", second, "{}")
    assert instance_state(page, base, second) == "completed"
    page.locator("#instance-jobs tbody tr").nth(1).wait_for()
    assert page.locator("#instance-jobs .badge.completed").count() == 2


def test_a_refused_action_shows_the_api_message(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """Cancelling an instance that ended meanwhile: the API's 409 text is on the page."""
    runner = start_node()
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    key = api.post("/v1/process-instances", json={"bpmnProcessId": "review-order"}).json()[
        "processInstanceKey"
    ]
    page.goto(f"{runner.url}/console/#/instances/{key}")
    page.locator("#cancel-instance").wait_for()
    assert api.post(f"/v1/process-instances/{key}/cancel").status_code == 204
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-instance")
    refused = message(page, "error", "Cancel instance")
    refused.wait_for()
    assert re.search(r"HTTP 4\d\d", refused.inner_text()), refused.inner_text()


def test_cluster_page_shows_partitions_and_live_rates(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    runner = start_node(partitions=2)
    api = client_for(runner)
    page.goto(f"{runner.url}/console/#/cluster")
    page.locator("#partitions tbody tr").nth(1).wait_for()
    rows = page.locator("#partitions tbody tr")
    assert rows.count() == 2
    assert "agree" in rows.nth(0).inner_text() and "#1" in rows.nth(0).inner_text()
    assert "up" in page.locator("#nodes").inner_text()
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    for _ in range(3):
        created = api.post("/v1/process-instances", json={"bpmnProcessId": "review-order"})
        assert created.status_code == 201
    # the page refreshes by itself; the started counter moved, so a rate above zero shows
    started = page.locator('.card[data-card="Instances started /s"] .value')
    started.filter(has_text=re.compile(r"^(?!0\.0$)\d+\.\d$")).wait_for()
    shot(page, "cluster")


def test_token_is_asked_once_and_sent(start_node: Callable[..., NodeThread], page: Any) -> None:
    def with_token(config: Config) -> Config:
        return dataclasses.replace(config, auth=dataclasses.replace(config.auth, tokens=[TOKEN]))

    runner = start_node(configure=with_token)
    page.goto(f"{runner.url}/console/#/jobs")
    form = page.locator("#token-form")
    form.wait_for()
    assert "needs an API token" in form.inner_text()
    form.locator("input[name=token]").fill(TOKEN)
    form.get_by_role("button", name="Save").click()
    page.locator("#jobs", has_text="No job matches.").wait_for()
    page.reload()  # kept in this browser: no second prompt
    page.locator("#jobs", has_text="No job matches.").wait_for()
    assert page.locator("#token-form").count() == 0


def test_api_docs_render_offline(start_node: Callable[..., NodeThread], page: Any) -> None:
    """/v1/docs: Swagger UI from the package lists the operations (the fixture refuses and
    counts every request that would leave 127.0.0.1)."""
    runner = start_node()
    page.goto(f"{runner.url}/v1/docs")
    page.locator("#swagger-ui .opblock").first.wait_for()
    assert page.locator("#swagger-ui .opblock").count() > 20
    text = page.locator("#swagger-ui").inner_text()
    for path in ("/v1/process-definitions", "/v1/process-instances", "/v1/jobs/{jobKey}/complete"):
        assert path in text, path
    shot(page, "api-docs")


def test_a_dmn_dropped_on_the_page_is_deployed(
    start_node: Callable[..., NodeThread], page: Any
) -> None:
    """Drag and drop (a DataTransfer with a File, as a browser builds it from a desktop drop)."""
    runner = start_node()
    page.goto(f"{runner.url}/console/#/processes")
    page.locator("#decisions", has_text="No decisions deployed.").wait_for()
    drop_file(page, "discount.dmn", discount_table())
    page.locator(".deployed", has_text="Deployed discount.dmn: discounts version 1").wait_for()
    row = page.locator("#decisions tbody tr", has_text="discount")
    row.wait_for()
    assert "Discount" in row.inner_text()


def test_an_open_instance_page_follows_the_instance(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """A worker moves the instance on: the page redraws by itself — the highlight moves from
    Review to Ship, then the instance shows completed."""
    runner = start_node()
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    key = api.post("/v1/process-instances", json={"bpmnProcessId": "review-order"}).json()[
        "processInstanceKey"
    ]
    page.goto(f"{runner.url}/console/#/instances/{key}")
    shape(page, "Review").and_(page.locator(".zn-active")).wait_for()

    def complete(job_type: str) -> None:
        jobs = api.get("/v1/jobs", params={"processInstanceKey": key, "jobType": job_type})
        (job,) = [j for p in jobs.json()["partitions"] for j in p["items"]]
        assert api.post(f"/v1/jobs/{job['key']}/complete", json={}).status_code == 204

    complete("review")
    shape(page, "Ship").and_(page.locator(".zn-active")).wait_for()
    assert "zn-active" not in (shape(page, "Review").get_attribute("class") or "")
    complete("ship")
    page.locator("#instance-state", has_text="completed").wait_for()


def test_long_lists_are_paged_and_a_model_without_layout_is_explained(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    runner = start_node()
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=one_task("plain", "work")).status_code == 201
    keys = []
    for _ in range(PAGE + 5):
        created = api.post("/v1/process-instances", json={"bpmnProcessId": "plain"})
        assert created.status_code == 201, created.text
        keys.append(created.json()["processInstanceKey"])
    page.goto(f"{runner.url}/console/#/instances")
    rows = page.locator("#instances tbody tr")
    rows.nth(PAGE - 1).wait_for()
    assert rows.count() == PAGE
    assert f"{PAGE + 5} in total" in page.locator("#instances .pager").inner_text()
    page.get_by_role("button", name="Next ›").click()
    page.locator("#instances .page-number", has_text="Page 2").wait_for()
    assert rows.count() == 5
    shown = {r.locator("td").first.inner_text() for r in rows.all()}
    assert shown <= {str(k) for k in keys}

    # a model written without BPMN DI (no layout): the page says so, the rest still works
    page.goto(f"{runner.url}/console/#/instances/{keys[0]}")
    page.locator("#diagram", has_text="no diagram layout").wait_for()
    page.locator("#instance-jobs tbody tr", has_text="work").wait_for()


def test_variables_edited_and_added_per_scope_then_cancel(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    runner = start_node()
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    key = api.post(
        "/v1/process-instances", json={"bpmnProcessId": "review-order", "variables": {"amount": 5}}
    ).json()["processInstanceKey"]
    page.goto(f"{runner.url}/console/#/instances/{key}")
    variables = page.locator("#variables")
    row = variables.locator("tbody tr", has=page.locator(".var-name", has_text="amount"))
    row.get_by_role("button", name="Edit").click()
    row.locator("input").fill("9")
    row.get_by_role("button", name="Save").click()
    message(page, "ok", "amount updated").wait_for()
    assert api.get(f"/v1/process-instances/{key}").json()["variables"]["amount"] == 9

    # a local variable in the Review task's scope; a value that is not JSON is refused first
    form = page.locator("#add-variable")
    scope = form.locator("option", has_text="Review (element instance").get_attribute("value")
    form.locator("select[name=scope]").select_option(scope)
    form.locator("input[name=name]").fill("note")
    form.locator("input[name=value]").fill("checked")
    form.get_by_role("button", name="Add / set").click()
    message(page, "error", "the value is not valid JSON").wait_for()
    form.locator("input[name=value]").fill('"checked"')
    form.get_by_role("button", name="Add / set").click()
    message(page, "ok", "note set").wait_for()
    instance = api.get(f"/v1/process-instances/{key}").json()
    (review,) = instance["activeElementInstances"]
    assert review["variables"] == {"note": "checked"}
    assert "note" not in instance["variables"]
    variables.locator("h3", has_text="Review").wait_for()  # the scope is listed now

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-instance")
    message(page, "ok", "cancelled").wait_for()
    page.locator("#instance-state", has_text="terminated").wait_for()
    assert api.get(f"/v1/process-instances/{key}").json()["state"] == "terminated"


def test_definition_statistics_on_the_diagram_and_instance_search(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """Counts from the statistics API drawn on the definition's diagram; the instance search
    form filters by state and business key."""
    runner = start_node(partitions=2)
    api = client_for(runner)
    deployed = api.post("/v1/process-definitions", content=MODEL.read_bytes())
    definition_key = deployed.json()["processDefinitionKey"]
    keys = []
    for n in range(3):
        body = {"bpmnProcessId": "review-order", "businessKey": f"order-{n}"}
        created = api.post("/v1/process-instances", json=body)
        assert created.status_code == 201, created.text
        keys.append(created.json()["processInstanceKey"])
    jobs = api.get("/v1/jobs", params={"processInstanceKey": keys[0]}).json()
    (job,) = [j for p in jobs["partitions"] for j in p["items"]]
    failed = api.post(f"/v1/jobs/{job['key']}/fail", json={"retries": 0, "message": "broken"})
    assert failed.status_code == 204

    page.goto(f"{runner.url}/console/#/processes/{definition_key}")
    review = shape(page, "Review")
    review.and_(page.locator(".zn-incident")).wait_for()
    badges = page.locator('.djs-overlays[data-container-id="Review"] .zn-count')
    badges.wait_for()
    assert badges.locator(".active").inner_text() == "3"
    assert badges.locator(".incidents").inner_text() == "1"
    assert page.locator('.djs-overlays[data-container-id="Ship"]').count() == 0
    shot(page, "process")

    # the definitions list shows the instance counts per state
    page.goto(f"{runner.url}/console/#/processes")
    row = page.locator("#definitions tbody tr", has_text="review-order")
    row.locator(".badge", has_text="2 active").wait_for()
    assert "1 failed" in row.inner_text()

    # search: failed ones, then one business key
    page.goto(f"{runner.url}/console/#/instances")
    form = page.locator("#instance-search")
    form.locator("select[name=state]").select_option("failed")
    form.get_by_role("button", name="Search").click()
    rows = page.locator("#instances tbody tr")
    page.locator("#instances .pager", has_text="1 in total").wait_for()
    assert rows.count() == 1 and str(keys[0]) in rows.first.inner_text()
    form = page.locator("#instance-search")
    form.locator("select[name=state]").select_option("")
    form.locator("input[name=businessKey]").fill("order-2")
    form.get_by_role("button", name="Search").click()
    page.locator("#instances tbody tr", has_text="order-2").wait_for()
    assert rows.count() == 1 and str(keys[2]) in rows.first.inner_text()


def test_history_and_variables_deleted_per_scope(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """The path taken (completed elements outlined), a variable deleted in each scope."""
    runner = start_node()
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    body = {"bpmnProcessId": "review-order", "variables": {"amount": 5, "temp": 1}}
    key = api.post("/v1/process-instances", json=body).json()["processInstanceKey"]
    review = api.get(f"/v1/process-instances/{key}").json()["activeElementInstances"][0]
    local = {"variables": {"note": "x"}, "elementInstanceKey": review["elementInstanceKey"]}
    patched = api.patch(f"/v1/process-instances/{key}/variables", json={**local, "local": True})
    assert patched.status_code == 204

    page.goto(f"{runner.url}/console/#/instances/{key}")
    history = page.locator("#history tbody tr")
    history.nth(1).wait_for()
    assert "Start" in history.nth(0).inner_text() and "completed" in history.nth(0).inner_text()
    assert "Review" in history.nth(1).inner_text() and "active" in history.nth(1).inner_text()
    shape(page, "Start").and_(page.locator(".zn-done")).wait_for()

    # delete a process variable, then the task's local one
    page.on("dialog", lambda dialog: dialog.accept())
    variables = page.locator("#variables")
    temp = variables.locator("tbody tr", has=page.locator(".var-name", has_text="temp"))
    temp.get_by_role("button", name="Delete").click()
    message(page, "ok", "temp deleted").wait_for()
    note = page.locator("#variables tbody tr", has=page.locator(".var-name", has_text="note"))
    note.get_by_role("button", name="Delete").click()
    message(page, "ok", "note deleted").wait_for()
    instance = api.get(f"/v1/process-instances/{key}").json()
    assert instance["variables"] == {"amount": 5}
    assert not instance["activeElementInstances"][0].get("variables")


def test_modification_moves_the_token(
    start_node: Callable[..., NodeThread], page: Any, client_for: Callable[..., Any]
) -> None:
    """Start a token at Ship (picked on the diagram), terminate the one at Review: the diagram
    highlights Ship only; a start the API refuses shows its message."""
    runner = start_node()
    api = client_for(runner)
    assert api.post("/v1/process-definitions", content=MODEL.read_bytes()).status_code == 201
    body = {"bpmnProcessId": "review-order"}
    key = api.post("/v1/process-instances", json=body).json()["processInstanceKey"]
    page.goto(f"{runner.url}/console/#/instances/{key}")
    # modification: start a token at Ship (picked on the diagram), then terminate Review
    shape(page, "Ship").click()
    assert page.locator("#start-at-element").input_value() == "Ship"
    page.locator("#start-at textarea").fill('{"carrier": "DHL"}')
    page.get_by_role("button", name="Start token here").click()
    message(page, "ok", "Start at Ship: done").wait_for()
    shape(page, "Ship").and_(page.locator(".zn-active")).wait_for()
    row = page.locator("#modify tbody tr", has_text="Review")
    row.get_by_role("button", name="Terminate").click()
    message(page, "ok", "Terminate Review: done").wait_for()
    page.locator("#modify tbody tr", has_text="Ship").wait_for()
    assert page.locator("#modify tbody tr").count() == 1
    assert "zn-active" not in (shape(page, "Review").get_attribute("class") or "")
    active = api.get(f"/v1/process-instances/{key}").json()["activeElementInstances"]
    assert [e["elementId"] for e in active] == ["Ship"]

    # a modification the API refuses shows its message
    page.locator("#start-at-element").select_option("Start")
    page.get_by_role("button", name="Start token here").click()
    refused = message(page, "error", "Start at Start")
    refused.wait_for()
    assert "it is a start event" in refused.inner_text() and "HTTP 400" in refused.inner_text()
    # the history (a separate route) shows the terminated element instance
    terminated = page.locator("#history tbody tr", has_text="Review")
    assert "terminated" in terminated.inner_text()
    shot(page, "instance-modified")
