"""Timers and messages on a real node with 3 partitions: the leader's timer driver fires due
timers, the relay correlates messages whose key lives on another partition, over REST."""

from __future__ import annotations

import time

from support.bpmn import (
    chain,
    definitions,
    end,
    message,
    message_catch,
    process,
    start,
    timer_catch,
)
from support.waits import wait_until

TIMER = definitions(
    process(
        start() + timer_catch("wait", "duration", "PT1S") + end() + chain("start", "wait", "end"),
        "timer",
    )
)
MESSAGE = definitions(
    process(start() + message_catch("wait", "M") + end() + chain("start", "wait", "end"), "msg"),
    errors=message("M", "paid", "=orderId"),
)


def _state(client, key: int) -> str:
    return client.get(f"/v1/process-instances/{key}").json()["state"]


def test_timer_fires_within_about_a_second_of_due(start_node, client_for) -> None:
    node = start_node(partitions=3)
    client = client_for(node)
    assert client.post("/v1/process-definitions", content=TIMER).status_code in (200, 201)
    created_at = time.monotonic()
    keys = [
        client.post("/v1/process-instances", json={"bpmnProcessId": "timer"}).json()[
            "processInstanceKey"
        ]
        for _ in range(3)
    ]
    for key in keys:
        wait_until(lambda k=key: _state(client, k) == "completed", 5.0, "timer to fire")
    elapsed = time.monotonic() - created_at
    assert 1.0 <= elapsed < 3.0, elapsed


def test_messages_correlate_across_partitions_with_ttl_and_duplicate_ids(
    start_node, client_for
) -> None:
    node = start_node(partitions=3)
    client = client_for(node)
    assert client.post("/v1/process-definitions", content=MESSAGE).status_code in (200, 201)
    orders = [f"order-{i}" for i in range(6)]
    keys = {}
    for order in orders:
        created = client.post(
            "/v1/process-instances", json={"bpmnProcessId": "msg", "variables": {"orderId": order}}
        )
        keys[order] = created.json()["processInstanceKey"]
    partitions = {key >> 51 for key in keys.values()}
    assert len(partitions) > 1
    time.sleep(0.3)  # subscriptions open through the relay
    for order in orders[:3]:
        published = client.post(
            "/v1/messages",
            json={"messageName": "paid", "correlationKey": order, "variables": {"paid": True}},
        )
        assert published.status_code == 201, published.text
    for order in orders[:3]:
        wait_until(lambda o=order: _state(client, keys[o]) == "completed", 5.0, "correlation")
        assert client.get(f"/v1/process-instances/{keys[order]}").json()["variables"]["paid"]
    # buffered before the instance exists, then a duplicate id while alive is refused
    body = {"messageName": "paid", "correlationKey": "later", "timeToLive": 60_000}
    body["messageId"] = "m1"
    assert client.post("/v1/messages", json=body).status_code == 201
    assert client.post("/v1/messages", json=body).status_code == 409
    late = client.post(
        "/v1/process-instances", json={"bpmnProcessId": "msg", "variables": {"orderId": "later"}}
    ).json()["processInstanceKey"]
    wait_until(lambda: _state(client, late) == "completed", 5.0, "buffered message")
    assert client.post("/v1/messages", json={"messageName": ""}).status_code == 400


SIGNAL = definitions(
    process(
        start()
        + '<bpmn:intermediateCatchEvent id="wait"><bpmn:signalEventDefinition signalRef="S"/>'
        "</bpmn:intermediateCatchEvent>" + end() + chain("start", "wait", "end"),
        "sig",
    ),
    errors='<bpmn:signal id="S" name="go"/>',
)


def test_signal_broadcast_reaches_every_partition(start_node, client_for) -> None:
    node = start_node(partitions=3)
    client = client_for(node)
    assert client.post("/v1/process-definitions", content=SIGNAL).status_code in (200, 201)
    keys = [
        client.post("/v1/process-instances", json={"bpmnProcessId": "sig"}).json()[
            "processInstanceKey"
        ]
        for _ in range(3)
    ]
    assert len({key >> 51 for key in keys}) == 3
    sent = client.post("/v1/signals", json={"signalName": "go", "variables": {"x": 1}})
    assert sent.status_code == 201 and sent.json()["triggered"] == 3
    assert sent.json()["signalKey"] >> 51 == 1  # keyed by partition 1, the deployment partition
    for key in keys:
        assert _state(client, key) == "completed"
