"""The Grafana dashboard against a real Prometheus (Debian's `prometheus` package): it scrapes a
3-node cluster that has done every kind of work the dashboard shows, and every query of every
panel (docs/grafana-dashboard.json, with Grafana's variables filled in) returns data through
Prometheus's HTTP API.

test_metrics.py checks that the metric *names* exist; this runs the real PromQL: label names,
suffixes, `rate`, `histogram_quantile` and the arithmetic between series must all work.
Prometheus listens on a reserved port of 127.0.0.1 with its data in the test's directory and is
stopped by PID. It must be installed (scripts/install-test-deps): a missing binary fails.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.bpmn import bpmn, chain, end, one_task, start
from support.cluster import LocalCluster
from support.ports import reserve_port
from support.waits import eventually, wait_until

from zennode.worker import Worker

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana-dashboard.json"
PROMETHEUS = "prometheus"
SCRAPE_INTERVAL = "1s"
RATE_INTERVAL = "1m"  # what $__rate_interval stands for (>= 4 scrapes)
WAIT_S = 60.0
STOP_S = 20.0
JOB_TYPE = "dashboard-work"
STUCK_TYPE = "dashboard-stuck"  # no worker: its job is failed into an incident by hand
ROUNDS = 10  # of one create per node
ROUND_PAUSE_S = 0.7
PAD = "x" * 2_000  # a variable that makes the log grow past the small compaction threshold
BURST = 150  # concurrent creates on one node with a small command queue: some are refused
BURSTS = 5

pytestmark = pytest.mark.timeout(240)


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target, Grafana's variables replaced as Grafana does for
    'All nodes' and a 1 m rate interval."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    assert queries, "the dashboard has no queries"
    return [
        (title, expr.replace("$instance", ".*").replace("$__rate_interval", RATE_INTERVAL))
        for title, expr in queries
    ]


class Prometheus:
    """A Prometheus server scraping `targets` ("host:port" of /metrics) every second."""

    def __init__(self, directory: Path, targets: list[str]) -> None:
        binary = shutil.which(PROMETHEUS)
        assert binary, "prometheus is not installed: run scripts/install-test-deps (as root)"
        directory.mkdir(parents=True)
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "zennode", "static_configs": [{"targets": targets}]}],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = reserve_port()
        self.url = f"http://127.0.0.1:{self.port.port}"
        self.log = directory / "prometheus.log"
        command = [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port.port}",
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, f"prometheus exited: {self.output()}"
            try:
                return self.http.get("/-/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, WAIT_S, lambda: f"prometheus to be ready: {self.output()}", 0.2)

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after a bound; then the port goes back."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=STOP_S)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=STOP_S)
        finally:
            self.http.close()
            self.port.release()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    # Small snapshots (so the snapshot age exists) and a small command queue (so a burst meets
    # backpressure and is counted as rejected).
    extra = {"raft": {"compaction_bytes": 16 * 1024}, "limits": {"command_queue_max": 8}}
    with LocalCluster(tmp_path / "cluster", 3, 2, 3, extra=extra) as started:
        yield started


@pytest.fixture
def prometheus(tmp_path: Path, cluster: LocalCluster) -> Iterator[Prometheus]:
    targets = [url.removeprefix("http://") for url in cluster.urls.values()]
    server = Prometheus(tmp_path / "prometheus", targets)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def create(cluster: LocalCluster, node: int, process_id: str, **variables: Any) -> int:
    body = {"bpmnProcessId": process_id, "variables": variables}
    response = cluster.call("POST", node, "/v1/process-instances", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["processInstanceKey"])


def state(cluster: LocalCluster, key: int) -> str:
    return cluster.call("GET", 1, f"/v1/process-instances/{key}").json().get("state", "?")


async def work(cluster: LocalCluster) -> None:
    """One SDK worker per node completes JOB_TYPE jobs while instances are created on every
    node (those that lead nothing asked forward) in rounds spread over several scrapes, so
    every counter and histogram grows between two samples; until every instance ended."""
    workers = []
    for node, address in cluster.grpc.items():
        worker = Worker([address], client_id=f"dashboard-{node}")
        worker.handler(JOB_TYPE)(lambda job: {"ok": True})
        workers.append(worker)
    runs = [asyncio.ensure_future(worker.run()) for worker in workers]
    keys: list[int] = []
    try:
        for worker in workers:
            await worker.wait_connected(timeout=15)
        for _ in range(ROUNDS):
            for node in cluster.urls:
                keys.append(await asyncio.to_thread(create, cluster, node, "dashboard", pad=PAD))
            await asyncio.sleep(ROUND_PAUSE_S)

        def all_completed() -> bool:
            return all(state(cluster, key) == "completed" for key in keys)

        await eventually(lambda: asyncio.to_thread(all_completed), WAIT_S, "instances done", 0.2)
    finally:
        for worker in workers:
            await worker.stop(timeout=5)
        await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 10)


def backpressure(cluster: LocalCluster, node: int, process_id: str) -> list[int]:
    """Bursts of BURST concurrent creates on one node (not retried) until one meets a full
    command queue (at most BURSTS bursts): the status codes seen."""
    url = f"{cluster.urls[node]}/v1/process-instances"
    limits = httpx.Limits(max_connections=BURST)

    async def one_burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            calls = [client.post(url, json={"bpmnProcessId": process_id}) for _ in range(BURST)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    codes: list[int] = []
    for _ in range(BURSTS):
        codes += asyncio.run(one_burst())
        if 503 in codes:
            break
    return codes


def open_incident(cluster: LocalCluster) -> None:
    """A job without a worker, failed with no retries left: one open incident."""
    key = create(cluster, 2, "dashboard-stuck")
    jobs = cluster.call("GET", 2, f"/v1/jobs?processInstanceKey={key}").json()
    (job,) = [j for part in jobs["partitions"] for j in part["items"]]
    failed = cluster.call("POST", 2, f"/v1/jobs/{job['key']}/fail", json={"retries": 0})
    assert failed.status_code in (200, 204), failed.text


def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    cluster: LocalCluster, prometheus: Prometheus
) -> None:
    cluster.deploy(one_task("dashboard", JOB_TYPE))
    cluster.deploy(one_task("dashboard-stuck", STUCK_TYPE))
    cluster.deploy(bpmn(start() + end() + chain("start", "end"), "dashboard-straight"))
    asyncio.run(asyncio.wait_for(work(cluster), WAIT_S + 30))
    open_incident(cluster)
    codes = backpressure(cluster, 1, "dashboard-straight")
    assert 503 in codes and 201 in codes, sorted(set(codes))

    queries = dashboard_queries()
    empty: list[str] = []

    def every_query_has_data() -> bool:
        empty[:] = [
            f"{title}: {expr}"
            for title, expr in queries
            if not any(math.isfinite(float(s["value"][1])) for s in prometheus.query(expr))
        ]
        return not empty

    wait_until(
        every_query_has_data,
        WAIT_S,
        lambda: "data for every dashboard query; none yet for:\n  " + "\n  ".join(empty),
        interval_s=1.0,
    )
    # Three nodes scraped, each a target that is up.
    up = prometheus.query('up{job="zennode"}')
    assert sorted(float(s["value"][1]) for s in up) == [1.0, 1.0, 1.0], up
