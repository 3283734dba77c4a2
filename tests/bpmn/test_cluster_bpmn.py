"""Timers and messages on a real 3-node cluster (3 partitions, R=3), through every node, and
across a SIGKILL of the leader of the partitions holding the waiting instances.

Messages published on any node reach the partition that owns their correlation key and are
correlated with instances on other partitions (the relay forwards to remote leaders); timers
that were waiting on a killed leader fire on the new leader, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.bpmn import (
    bpmn,
    chain,
    definitions,
    end,
    message,
    message_catch,
    process,
    start,
    timer_catch,
)
from support.cluster import LocalCluster
from support.rest import RestClient
from support.waits import wait_until

from zennode.tools import launcher

NODES = 3
PARTITIONS = 3
WAIT_S = 30.0

MESSAGE = definitions(
    process(start() + message_catch("wait", "M") + end() + chain("start", "wait", "end"), "msg"),
    errors=message("M", "paid", "=orderId"),
)
TIMER = bpmn(
    start() + timer_catch("wait", "duration", "PT3S") + end() + chain("start", "wait", "end"),
    "timer",
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("bpmn-cluster"), NODES, PARTITIONS, 3) as started:
        yield started


def _call(client: RestClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Retried on 503 and on a node that is gone, for at most WAIT_S."""
    return client.call(method, url, retry_s=WAIT_S, retry_gone=True, **kwargs)


def _wait_state(client: RestClient, url: str, key: int, state: str) -> None:
    last: list[httpx.Response] = []

    def reached() -> bool:
        last[:] = [_call(client, "GET", f"{url}/v1/process-instances/{key}")]
        return last[0].status_code == 200 and last[0].json()["state"] == state

    wait_until(reached, WAIT_S, lambda: f"instance {key} to be {state}: {last[0].text}", 0.1)


def test_messages_and_timers_across_nodes_and_a_leader_kill(cluster: LocalCluster) -> None:
    directory, urls = cluster.dir, cluster.urls
    with RestClient(timeout=20.0) as client:
        for xml in (MESSAGE, TIMER):
            deployed = _call(client, "POST", f"{urls[1]}/v1/process-definitions", content=xml)
            assert deployed.status_code in (200, 201), deployed.text
        orders = {}
        for i in range(6):
            node = urls[i % NODES + 1]
            body = {"bpmnProcessId": "msg", "variables": {"orderId": f"o{i}"}}
            orders[f"o{i}"] = _call(client, "POST", f"{node}/v1/process-instances", json=body)
        keys = {o: r.json()["processInstanceKey"] for o, r in orders.items()}
        assert len({k >> 51 for k in keys.values()}) >= 2  # spread over partitions
        timers = [
            _call(
                client, "POST", f"{urls[2]}/v1/process-instances", json={"bpmnProcessId": "timer"}
            ).json()["processInstanceKey"]
            for _ in range(PARTITIONS)
        ]
        time.sleep(1.0)  # subscriptions open through the relays
        for i, order in enumerate(list(orders)[:3]):
            published = _call(
                client,
                "POST",
                f"{urls[(i + 1) % NODES + 1]}/v1/messages",
                json={"messageName": "paid", "correlationKey": order, "variables": {"ok": 1}},
            )
            assert published.status_code == 201, published.text
        for order in list(orders)[:3]:
            _wait_state(client, urls[1], keys[order], "completed")
        # Kill the node leading partition 1 while timers wait and messages are still to come.
        topology = launcher.topology(directory, digests=False)
        victim = next(p["leader"] for p in topology["partitions"] if p["id"] == 1)
        launcher.kill_node(directory, victim)
        alive = next(n for n in urls if n != victim)
        for order in list(orders)[3:]:
            published = _call(
                client,
                "POST",
                f"{urls[alive]}/v1/messages",
                json={"messageName": "paid", "correlationKey": order, "timeToLive": 60_000},
            )
            assert published.status_code == 201, published.text
        for order in list(orders)[3:]:
            _wait_state(client, urls[alive], keys[order], "completed")
        for key in timers:
            _wait_state(client, urls[alive], key, "completed")
