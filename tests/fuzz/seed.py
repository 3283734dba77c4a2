"""Real data for fuzz runs: a deployed model, waiting jobs, an incident, and their keys.

Without real keys a schema-driven fuzzer only ever meets 404s and never reaches the code that
completes jobs, resolves incidents or cancels instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from support.bpmn import bpmn, end, flow, gateway, message, message_catch, service, start

MODEL = bpmn(
    start("s")
    + service("t1", "fuzz-task", inputs={"doubled": "=amount * 2"}, retries="1")
    + gateway("g", default="f4")
    + message_catch("msg", "m")
    + end("e")
    + flow("f1", "s", "t1")
    + flow("f2", "t1", "g")
    + flow("f3", "g", "e", "=ok = true")
    + flow("f4", "g", "msg")
    + flow("f5", "msg", "e"),
    "fuzzed",
    errors=message("m", "fuzz-message", "=orderId"),
)


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
