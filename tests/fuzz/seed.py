"""Real data for fuzz runs: a deployed model, waiting jobs, an incident, and their keys.

Without real keys a schema-driven fuzzer only ever meets 404s and never reaches the code that
completes jobs, resolves incidents or cancels instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="t">
  <bpmn:process id="fuzzed" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t1"/>
    <bpmn:serviceTask id="t1">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="fuzz-task" retries="1"/>
        <zeebe:ioMapping><zeebe:input source="=amount * 2" target="doubled"/></zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="t1" targetRef="g"/>
    <bpmn:exclusiveGateway id="g" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="e">
      <bpmn:conditionExpression>=ok = true</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="g" targetRef="msg"/>
    <bpmn:intermediateCatchEvent id="msg">
      <bpmn:messageEventDefinition messageRef="m"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f5" sourceRef="msg" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
  <bpmn:message id="m" name="fuzz-message">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=orderId"/>
    </bpmn:extensionElements>
  </bpmn:message>
</bpmn:definitions>"""


@dataclass
class Seeded:
    """Keys that exist on the node, by the path parameter name that takes them."""

    keys: dict[str, list[int]] = field(default_factory=dict)

    def add(self, name: str, key: Any) -> None:
        self.keys.setdefault(name, []).append(int(key))


def seed(http: httpx.Client, instances: int = 6) -> Seeded:
    seeded = Seeded()
    deployed = http.post(
        "/v1/process-definitions", content=MODEL, headers={"content-type": "application/xml"}
    )
    deployed.raise_for_status()
    seeded.add("processDefinitionKey", deployed.json()["processDefinitionKey"])
    for i in range(instances):
        body = {"bpmnProcessId": "fuzzed", "variables": {"amount": i, "orderId": f"o{i}"}}
        created = http.post("/v1/process-instances", json=body)
        created.raise_for_status()
        seeded.add("processInstanceKey", created.json()["processInstanceKey"])
    jobs = http.get("/v1/jobs", params={"size": 100}).json()
    for part in jobs["partitions"]:
        for job in part["items"]:
            seeded.add("jobKey", job["key"])
    # One job fails without retries: an open incident to resolve.
    failed = http.post(f"/v1/jobs/{seeded.keys['jobKey'][0]}/fail", json={"retries": 0})
    failed.raise_for_status()
    incidents = http.get("/v1/incidents").json()
    for part in incidents["partitions"]:
        for incident in part["items"]:
            seeded.add("incidentKey", incident["key"])
    return seeded
