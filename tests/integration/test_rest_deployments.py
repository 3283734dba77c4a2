"""`POST /v1/deployments` on a real node with two partitions: BPMN and DMN resources in one
deployment with one deployment key (which `bindingType="deployment"` binds to), shown on every
definition and decision the REST API returns; a repeated call deploys nothing; nothing deployed
when one resource is refused, including refusals the deploy command itself makes; clear 400s
for bodies that are not a deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.bpmn import (
    bpmn,
    business_rule,
    chain,
    end,
    message,
    message_def,
    one_task,
    start,
    timer_def,
)
from support.dmn import discount_table
from support.nodes import NodeThread
from support.rest import RestClient
from support.waits import wait_until

XML = "application/xml"
PRICED = bpmn(
    start()
    + business_rule("decide", "discount", "result", binding="deployment")
    + end()
    + chain("start", "decide", "end"),
    "priced",
)
NO_DECISION_DMN = (
    '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="empty" '
    'name="empty" namespace="http://example.com/dmn"/>'
)

BEFORE_2000_ONLY = '=if now() < date and time("2000-01-01T00:00:00Z") then "PT1H" else "never"'


def starting_on(event_definition: str, extra: str = "") -> str:
    """A process whose start event has `event_definition` (a message or timer start)."""
    body = f'<bpmn:startEvent id="start">{event_definition}</bpmn:startEvent>' + end()
    return bpmn(body + chain("start", "end"), "started", errors=extra)


def deploy(api: RestClient, *resources: tuple[str, str], status: int = 201) -> dict[str, Any]:
    files = [("resources", (name, text.encode(), XML)) for name, text in resources]
    response = api.call("POST", "/v1/deployments", files=files)
    assert response.status_code == status, response.text
    return response.json()


def nothing_deployed(api: RestClient) -> bool:
    definitions = api.get("/v1/process-definitions").json()
    decisions = api.get("/v1/decision-definitions").json()
    return definitions["totalCount"] == 0 and decisions["totalCount"] == 0


def test_bpmn_and_dmn_deployed_together_share_one_deployment_key(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node(partitions=2))
    first = deploy(api, ("priced.bpmn", PRICED), ("rules.dmn", discount_table()))
    deployment = first["deploymentKey"]
    assert isinstance(deployment, int) and first["duplicate"] is False
    [process] = first["processes"]
    [requirements] = first["decisionRequirements"]
    [decision] = first["decisions"]
    assert (process["bpmnProcessId"], process["resourceName"]) == ("priced", "priced.bpmn")
    assert (requirements["decisionRequirementsId"], requirements["resourceName"]) == (
        "discounts",
        "rules.dmn",
    )
    assert decision["decisionId"] == "discount"
    assert process["deploymentKey"] == requirements["deploymentKey"] == deployment
    assert decision["deploymentKey"] == deployment

    # every read of the REST API shows the deployment
    definition_key = process["processDefinitionKey"]
    assert api.get(f"/v1/process-definitions/{definition_key}").json()["deploymentKey"] == (
        deployment
    )
    [listed] = api.get("/v1/process-definitions").json()["items"]
    assert listed["deploymentKey"] == deployment
    detail = api.get(f"/v1/decision-definitions/{decision['decisionKey']}").json()
    assert detail["deploymentKey"] == deployment
    [listed_decision] = api.get("/v1/decision-definitions").json()["items"]
    assert listed_decision["deploymentKey"] == deployment

    # bindingType="deployment" finds the decision deployed with the process, on both
    # partitions (creates go round robin)
    keys = []
    for _ in range(2):
        body = {"bpmnProcessId": "priced", "variables": {"customer": "gold", "amount": 10}}
        created = api.post("/v1/process-instances", json=body)
        assert created.status_code == 201, created.text
        keys.append(created.json()["processInstanceKey"])
    for key in keys:
        done = wait_until(
            lambda k=key: api.get(f"/v1/process-instances/{k}").json()["state"] == "completed",
            15,
            f"instance {key} completed",
        )
        assert done
        assert api.get(f"/v1/process-instances/{key}").json()["variables"]["result"] == 0.1

    # the same call again deploys nothing: 200 with the earlier keys and deployment
    again = deploy(api, ("priced.bpmn", PRICED), ("rules.dmn", discount_table()), status=200)
    assert again["duplicate"] is True and again["deploymentKey"] == deployment
    assert again["processes"][0]["processDefinitionKey"] == definition_key
    assert again["decisions"][0]["decisionKey"] == decision["decisionKey"]

    # one changed resource: a new deployment in which the unchanged one gets a new version too
    changed = deploy(api, ("priced.bpmn", PRICED), ("rules.dmn", discount_table(gold="0.2")))
    assert changed["duplicate"] is False and changed["deploymentKey"] != deployment
    assert changed["processes"][0]["version"] == 2
    assert changed["decisions"][0]["version"] == 2
    assert {changed["processes"][0]["deploymentKey"], changed["decisions"][0]["deploymentKey"]} == {
        changed["deploymentKey"]
    }

    # the one-resource routes show the deployment key of their own deployment too
    single = api.call("POST", "/v1/process-definitions", content=one_task("solo", "work"))
    assert single.status_code == 201, single.text
    solo = single.json()
    assert solo["deploymentKey"] not in (None, deployment, changed["deploymentKey"])
    dmn = api.call(
        "POST",
        "/v1/decision-definitions",
        content=discount_table("other", drg="others"),
        headers={"content-type": XML},
    )
    assert dmn.status_code == 201, dmn.text
    assert dmn.json()["deploymentKey"] == dmn.json()["decisions"][0]["deploymentKey"]
    assert dmn.json()["deploymentKey"] not in (solo["deploymentKey"], deployment)


@pytest.mark.parametrize(
    ("bad_name", "bad", "why"),
    [
        ("broken.bpmn", "<definitions", "broken.bpmn"),
        # refused by the deploy command itself (not the parser): checked before any is stored
        (
            "feel-message.bpmn",
            starting_on(message_def("m"), extra=message("m", "=orderName", key=None)),
            "needs a literal message name",
        ),
        ("zero.bpmn", starting_on(timer_def("cycle", "R0/PT1M")), "repeats zero times"),
        # valid only before 2000: checked at the clock the command's time comes from, not at 0
        (
            "by-the-clock.bpmn",
            starting_on(timer_def("duration", BEFORE_2000_ONLY)),
            "is not an ISO 8601 duration",
        ),
        ("empty.dmn", NO_DECISION_DMN, "has no decision"),
        ("notes.txt", "hello", "zennode deploys BPMN"),
    ],
)
def test_one_refused_resource_deploys_nothing(
    start_node: Callable[..., NodeThread],
    client_for: Callable[[NodeThread], RestClient],
    bad_name: str,
    bad: str,
    why: str,
) -> None:
    """The good resources come first (DMN is stored before BPMN): without the check of every
    resource up front, they would be stored before the bad one is refused."""
    api = client_for(start_node(partitions=2))
    good = [("rules.dmn", discount_table()), ("priced.bpmn", PRICED)]
    response = api.call(
        "POST",
        "/v1/deployments",
        files=[("resources", (n, t.encode(), XML)) for n, t in [*good, (bad_name, bad)]],
    )
    assert response.status_code == 400, response.text
    text = response.json()["message"]
    assert f"resource '{bad_name}'" in text and why in text
    assert nothing_deployed(api)
    # and the good ones alone deploy
    assert deploy(api, *good)["deploymentKey"]


def test_bodies_that_are_not_a_deployment_are_clear_400s(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    api = client_for(start_node(partitions=1))
    raw = api.call("POST", "/v1/deployments", content=PRICED, headers={"content-type": XML})
    assert raw.status_code == 400 and "multipart/form-data" in raw.json()["message"]
    misnamed = api.call(
        "POST", "/v1/deployments", files=[("resource", ("priced.bpmn", PRICED.encode(), XML))]
    )
    assert misnamed.status_code == 400 and "'resource'" in misnamed.json()["message"]
    field = api.call("POST", "/v1/deployments", files=[("resources", (None, b"<xml/>"))])
    assert field.status_code == 400 and "must be a file" in field.json()["message"]
    assert nothing_deployed(api)


def test_the_route_is_in_the_openapi_document(
    start_node: Callable[..., NodeThread], client_for: Callable[[NodeThread], RestClient]
) -> None:
    document = client_for(start_node(partitions=1)).get("/v1/openapi.json").json()
    operation = document["paths"]["/v1/deployments"]["post"]
    assert operation["operationId"] == "deploy_resources"
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["resources"]["type"] == "array"
    schemas = document["components"]["schemas"]
    assert {"processes", "decisionRequirements", "decisions", "deploymentKey"} <= set(
        schemas["DeploymentResult"]["properties"]
    )
    for shown in ("ProcessDefinition", "DecisionDefinition", "DeployResult"):
        assert "deploymentKey" in schemas[shown]["properties"], shown
