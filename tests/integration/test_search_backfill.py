"""The search backfill on a real node: a data dir whose instances an older version saved (no
search rows, no format marker) becomes searchable after a restart, through the partition
leaders' `backfill_search` commands, with the rows and digest the normal write path gives;
on a new data dir no backfill command runs: each partition's first command (here the deploy
and its copies) marks it complete (the marker is replicated state, never written beside the
log)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import bpmn
from support.nodes import NodeThread, node_config
from support.rest import RestClient
from support.waits import wait_until

from zennode.config import Config
from zennode.engine import search
from zennode.engine.search.layout import FORMAT_KEY
from zennode.node import Node
from zennode.state import LmdbStore

WAIT_S = 20.0
PARTITIONS = 2
QUERIES: list[dict[str, Any]] = [
    {"size": 100},
    {"size": 100, "state": "active"},
    {"size": 100, "state": "completed"},
    {"size": 100, "businessKey": "order-2"},
    {"size": 100, "activityId": "task"},
]


def _answers(api: RestClient) -> dict[str, Any]:
    """What search and the statistics routes say."""
    out: dict[str, Any] = {}
    for query in QUERIES:
        page = api.get("/v1/process-instances", params=query)
        assert page.status_code == 200, page.text
        out[str(query)] = page.json()
    definitions = api.get("/v1/process-definitions/statistics").json()
    out["definitions"] = definitions
    for entry in definitions:
        key = entry["processDefinitionKey"]
        out[key] = api.get(f"/v1/process-definitions/{key}/statistics").json()
    return out


def _digests(runner: NodeThread) -> dict[int, str]:
    return {pid: p.digest() for pid, p in runner.node.cluster.local_partitions.items()}


def _make_old(config: Config) -> None:
    """Leave each partition's state as a version from before the search rows would have."""
    for pid in range(1, PARTITIONS + 1):
        store = LmdbStore(Path(config.data_dir) / f"partition-{pid}" / "lmdb")
        try:
            with store.write() as txn:
                rows = [r for r, _ in txn.scan("index") if r.startswith(search.SEARCH_PREFIXES)]
                for row in rows:
                    txn.delete("index", row)
                txn.delete("meta", FORMAT_KEY)
        finally:
            store.close()


def _backfilled_metric(api: RestClient) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
        if sample.name == "zennode_search_backfilled_instances_total"
    )


def test_a_restarted_node_backfills_the_search_rows_of_old_instances_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zennode.drivers.backfill")
    config = node_config(tmp_path / "node", PARTITIONS)
    first = NodeThread(Node(config)).start()
    try:
        api = RestClient(base_url=first.url)
        deployed = api.post("/v1/process-definitions", content=bpmn.one_task("bf", "bf-job"))
        assert deployed.status_code == 201, deployed.text
        keys = []
        for i in range(9):
            body = {"bpmnProcessId": "bf", "businessKey": f"order-{i % 3}"}
            created = api.post("/v1/process-instances", json=body)
            assert created.status_code == 201, created.text
            keys.append(int(created.json()["processInstanceKey"]))
        jobs = api.get("/v1/jobs", params={"size": 100}).json()
        for job in [j for part in jobs["partitions"] for j in part["items"]][:4]:
            done = api.post(f"/v1/jobs/{job['key']}/complete", json={"variables": {}})
            assert done.status_code in (200, 204), done.text
        normal = _answers(api)
        assert normal[str({"size": 100})]["totalCount"] == 9
        everything = set(range(1, PARTITIONS + 1))
        wait_until(lambda: first.node.backfill.done == everything, WAIT_S, "the drivers' check")
        # A new data dir: the deploy and its copies marked every partition; no backfill command.
        assert first.node.backfill.commands == {}
        assert first.node.backfill.migrated == {}
        digests = _digests(first)  # with the marker, as the backfill below must leave them
    finally:
        first.stop()
    _make_old(config)

    node = Node(config)
    node.backfill.chunk = 2  # several chunks per partition
    second = NodeThread(node).start()
    try:
        api = RestClient(base_url=second.url)
        driver = second.node.backfill
        wait_until(lambda: driver.done == everything, WAIT_S, "the backfill to finish")
        assert sum(driver.migrated.values()) == len(keys)
        assert sum(driver.commands.values()) >= len(keys) // 2
        assert _answers(api) == normal
        assert _digests(second) == digests
        assert _backfilled_metric(api) == len(keys)
        assert any("search backfill done" in r.getMessage() for r in caplog.records)
    finally:
        second.stop()
