"""A real 3-node cluster (3 partitions, R=3) of `zennode` processes on 127.0.0.1.

One cluster is shared by the module (started by the `cluster` fixture with the launcher behind
`scripts/cluster`, always stopped with `down`). The tests run in file order: the read-only
ones first, then those that kill, restart and stop nodes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cluster_helpers import (
    JOB_TYPE,
    JOB_XML,
    PROCESS_WITH_JOB,
    PROCESS_WITHOUT_JOB,
    STRAIGHT_XML,
    active_jobs,
)
from support.cluster import LocalCluster

from zennode.cluster.proto import cluster_pb2 as pb
from zennode.cluster.proto import cluster_pb2_grpc as pb_grpc
from zennode.engine.keys import make_key, partition_of
from zennode.tools import launcher
from zennode.tools.measure import outage_s

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def deployed(cluster: LocalCluster) -> LocalCluster:
    cluster.deploy(JOB_XML, node=2)
    cluster.deploy(STRAIGHT_XML, node=3)
    return cluster


def create(
    cluster: LocalCluster, node: int, process: str = PROCESS_WITH_JOB, **variables: Any
) -> int:
    response = cluster.call(
        "POST",
        node,
        "/v1/process-instances",
        json={"bpmnProcessId": process, "variables": variables},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["processInstanceKey"])


def test_up_writes_cluster_json_and_one_config_per_node(cluster: LocalCluster) -> None:
    info = launcher.read_cluster(cluster.dir)
    assert (info["partitions"], info["replication_factor"]) == (3, 3)
    assert [n["id"] for n in info["nodes"]] == [1, 2, 3]
    for entry in info["nodes"]:
        assert set(entry) == {"id", "pid", "http", "grpc", "config", "log"}
        assert launcher.node_pid(cluster.dir, entry["id"]) == entry["pid"]
        assert entry["http"].startswith("http://127.0.0.1:")
        assert Path(entry["config"]).read_text().count("secret:") == 1


def test_new_instances_spread_over_partitions_without_forwards(deployed: LocalCluster) -> None:
    # A node puts new instances on the partitions it leads: with balanced leaders (node n
    # leads partition n) creations sent to every node in turn spread evenly, none forwarded.
    leaders = deployed.wait_balanced()
    keys = [create(deployed, i % 3 + 1, n=i) for i in range(30)]
    assert Counter(partition_of(k) for k in keys) == {1: 10, 2: 10, 3: 10}
    assert all(leaders[partition_of(k)] == i % 3 + 1 for i, k in enumerate(keys))
    listed = deployed.call("GET", 3, f"/v1/jobs?jobType={JOB_TYPE}&size=100").json()
    assert [p["partition"] for p in listed["partitions"]] == [1, 2, 3]
    assert all(len(p["items"]) >= 10 for p in listed["partitions"])


def test_every_call_works_from_every_node(deployed: LocalCluster) -> None:
    for node in (1, 2, 3):
        key = create(deployed, node, origin=node)
        for reader in (1, 2, 3):
            got = deployed.call("GET", reader, f"/v1/process-instances/{key}")
            assert got.status_code == 200 and got.json()["variables"]["origin"] == node
        jobs = deployed.call("GET", node % 3 + 1, f"/v1/jobs?processInstanceKey={key}").json()
        (job,) = [j for p in jobs["partitions"] for j in p["items"]]
        done = deployed.call(
            "POST", (node + 1) % 3 + 1, f"/v1/jobs/{job['key']}/complete", json={"variables": {}}
        )
        assert done.status_code in (200, 204), done.text
        again = deployed.call("POST", node, f"/v1/jobs/{job['key']}/complete", json={})
        assert again.status_code == 409, again.text
        assert deployed.call("GET", node, f"/v1/jobs/{job['key']}").json()["state"] == "completed"
        state = deployed.call("GET", (node + 1) % 3 + 1, f"/v1/process-instances/{key}").json()
        assert state["state"] == "completed"
        definitions = deployed.call("GET", node, "/v1/process-definitions").json()
        assert {d["bpmnProcessId"] for d in definitions["items"]} >= {
            PROCESS_WITH_JOB,
            PROCESS_WITHOUT_JOB,
        }
        missing = deployed.call("GET", node, f"/v1/process-instances/{make_key(7, 1)}")
        assert missing.status_code == 404, missing.text
        unknown = deployed.call("GET", node, f"/v1/jobs/{make_key(2, 10**9)}")
        assert unknown.status_code == 404, unknown.text


def test_topology_endpoint_and_status_command(deployed: LocalCluster) -> None:
    topology = deployed.wait_converged()
    assert [(n["id"], n["up"]) for n in topology["nodes"]] == [(1, True), (2, True), (3, True)]
    for partition in topology["partitions"]:
        assert partition["leader"] in (1, 2, 3)
        assert sorted([partition["leader"], *partition["followers"]]) == [1, 2, 3]
        assert all(r["appliedIndex"] > 0 for r in partition["replicas"])
    config = launcher.read_cluster(deployed.dir)["nodes"][1]["config"]
    result = subprocess.run(
        [sys.executable, "-m", "zennode.cli", "status", "--config", config],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    leaders = {int(r[0]): r[1] for r in rows if len(r) > 3 and r[0] in ("1", "2", "3")}
    assert set(leaders) == {1, 2, 3}


def test_internal_service_needs_the_cluster_secret(cluster: LocalCluster) -> None:
    import yaml

    config = yaml.safe_load(Path(cluster.info["nodes"][0]["config"]).read_text())
    port = config["members"][0]["ports"]["internal"]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ClusterStub(channel)
        for metadata in ((), (("x-zennode-secret", "wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Roles(pb.RolesRequest(), timeout=5, metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as refused:
                stub.Submit(
                    pb.SubmitRequest(partition_id=1, command_json=b'{"type":"deploy"}'),
                    timeout=5,
                    metadata=metadata,
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        reply = stub.Roles(
            pb.RolesRequest(), timeout=5, metadata=(("x-zennode-secret", config["secret"]),)
        )
        assert sorted(r.partition_id for r in reply.replicas) == [1, 2, 3]


class Load:
    """Creators and a completer on their own threads; records only acknowledged work."""

    def __init__(self, cluster: LocalCluster, probe_partition: int) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.created: list[int] = []
        self.completed_jobs: list[int] = []
        self.unacknowledged = 0
        self.probe_partition = probe_partition
        self.probe_ok: list[float] = []
        self.threads = [
            threading.Thread(target=self._create, args=(i,), daemon=True) for i in range(3)
        ] + [
            threading.Thread(target=self._complete, daemon=True),
            threading.Thread(target=self._probe, daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _nodes(self, offset: int) -> list[int]:
        return [(offset + i) % 3 + 1 for i in range(3)]

    def _create(self, worker: int) -> None:
        n = 0
        with httpx.Client(timeout=15.0) as client:
            while not self.stop.is_set():
                n += 1
                process = PROCESS_WITHOUT_JOB if n % 4 == 0 else PROCESS_WITH_JOB
                node = self._nodes(worker + n)[0]
                try:
                    response = client.post(
                        self.cluster.urls[node] + "/v1/process-instances",
                        json={"bpmnProcessId": process, "variables": {"w": worker, "n": n}},
                    )
                except httpx.HTTPError:
                    continue  # node down: not acknowledged, try the next one
                if response.status_code == 201:
                    with self.lock:
                        self.created.append(int(response.json()["processInstanceKey"]))
                else:
                    assert response.status_code == 503, response.text
                    with self.lock:
                        self.unacknowledged += 1

    def _complete(self) -> None:
        n = 0
        with httpx.Client(timeout=15.0) as client:
            while not self.stop.is_set():
                n += 1
                node = self._nodes(n)[0]
                try:
                    listed = client.get(
                        self.cluster.urls[node] + f"/v1/jobs?state=active&jobType={JOB_TYPE}"
                        "&size=50"
                    )
                    if listed.status_code != 200:
                        continue
                    for part in listed.json()["partitions"]:
                        for job in part["items"]:
                            done = client.post(
                                self.cluster.urls[node] + f"/v1/jobs/{job['key']}/complete",
                                json={"variables": {"by": "load"}},
                            )
                            if done.status_code in (200, 204):
                                with self.lock:
                                    self.completed_jobs.append(int(job["key"]))
                except httpx.HTTPError:
                    continue

    def _probe(self) -> None:
        """A command on the victim's partition every 20 ms; a 404 means a leader applied it."""
        missing_job = make_key(self.probe_partition, 2**40)
        n = 0
        with httpx.Client(timeout=15.0) as client:
            while not self.stop.is_set():
                n += 1
                node = self._nodes(n)[0]
                try:
                    response = client.post(
                        self.cluster.urls[node] + f"/v1/jobs/{missing_job}/complete", json={}
                    )
                except httpx.HTTPError:
                    continue
                if response.status_code == 404:
                    self.probe_ok.append(time.monotonic())
                time.sleep(0.02)


def drain_jobs(cluster: LocalCluster, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = active_jobs(cluster, 1)
        if not jobs:
            return
        for job in jobs:
            done = cluster.call("POST", 2, f"/v1/jobs/{job['key']}/complete", json={})
            assert done.status_code in (200, 204, 409), done.text
    raise AssertionError("active jobs remain")


def test_leader_kill_under_load_loses_nothing_acknowledged(deployed: LocalCluster) -> None:
    victim_partition = 1
    deployed.wait_balanced()  # leadership no longer moves by itself
    load = Load(deployed, victim_partition)
    load.start()
    try:
        time.sleep(2.0)
        victim = deployed.leader_of(victim_partition)  # now: a busy machine may re-elect
        killed_at = time.monotonic()
        launcher.kill_node(deployed.dir, victim)
        time.sleep(5.0)
    finally:
        load.finish()
    gap = outage_s(load.probe_ok, killed_at)
    assert gap is not None, "the probe never succeeded around the kill"
    print(
        f"\nfailover gap {gap * 1000:.0f} ms; created {len(load.created)}, "
        f"completed {len(load.completed_jobs)}, unacknowledged {load.unacknowledged}"
    )
    assert gap < 8.0
    new_leader = deployed.leader_of(victim_partition)
    assert new_leader != victim

    # The killed node restarts and catches up (log or snapshot) with equal digests.
    launcher.start_node(deployed.dir, victim)
    launcher.wait_for_leaders(deployed.dir, 60)
    drain_jobs(deployed)
    assert len(load.created) > 50
    by_partition = Counter(partition_of(k) for k in load.created)
    assert set(by_partition) == {1, 2, 3}
    for key in load.created:
        instance = deployed.call("GET", key % 3 + 1, f"/v1/process-instances/{key}")
        assert instance.status_code == 200, f"acknowledged instance {key} lost: {instance.text}"
        assert instance.json()["state"] == "completed", instance.text
        if instance.json()["bpmnProcessId"] == PROCESS_WITH_JOB:
            jobs = deployed.call("GET", 1, f"/v1/jobs?processInstanceKey={key}").json()
            (job,) = [j for p in jobs["partitions"] for j in p["items"]]
            assert job["state"] == "completed"
    for job_key in load.completed_jobs:
        job = deployed.call("GET", 3, f"/v1/jobs/{job_key}").json()
        assert job["state"] == "completed", job
    topology = deployed.wait_converged(timeout_s=60)
    assert all(n["up"] for n in topology["nodes"])


def test_a_cut_short_snapshot_on_a_replica_is_refused_not_installed(deployed: LocalCluster) -> None:
    """A replica killed while snapshots were being sent to it restarts with what a transfer
    cut short leaves: a partial incoming file, and a short snapshot renamed over its dump (the
    PySyncObj transfer has no offsets, so a lost chunk gives a short file). It must refuse the
    short file (length + checksum), keep its last good snapshot, start, and catch up to the
    same digests as the others."""
    node = 3
    data = Path(launcher.read_cluster(deployed.dir)["nodes"][node - 1]["config"]).parent
    node_data = data / f"node{node}" / "data"
    deadline = time.monotonic() + 30
    while not list(node_data.glob("partition-*/raft.dump")) and time.monotonic() < deadline:
        for _ in range(50):  # more log, until this replica has compacted at least once
            create(deployed, node % 3 + 1, process=PROCESS_WITHOUT_JOB)
    launcher.kill_node(deployed.dir, node)
    damaged = 0
    for part in sorted(node_data.glob("partition-*")):
        dump = part / "raft.dump"
        if dump.exists() and dump.stat().st_size > 64:
            body = dump.read_bytes()
            short = part / "raft.dump.short"
            short.write_bytes(body[: len(body) - len(body) // 3])
            short.replace(dump)  # a new file: the last good dump (raft.dump.good) stays intact
            damaged += 1
        (part / "raft.dump.1.tmp").write_bytes(b"\x00" * 1000)  # half a transfer
    assert damaged > 0, "no snapshot was written; compaction did not run"
    launcher.start_node(deployed.dir, node)
    launcher.wait_for_leaders(deployed.dir, 60)
    key = create(deployed, node, process=PROCESS_WITHOUT_JOB)
    assert deployed.call("GET", node, f"/v1/process-instances/{key}").status_code == 200
    deployed.wait_converged(timeout_s=60)
    assert launcher.node_pid(deployed.dir, node) is not None
    log = (data / f"node{node}.log").read_text()
    assert "refused snapshot" in log


def test_full_cluster_stop_and_start_keeps_state(deployed: LocalCluster) -> None:
    before = deployed.wait_converged()
    instances = deployed.call("GET", 1, "/v1/process-instances?size=5").json()
    sample = [i["processInstanceKey"] for p in instances["partitions"] for i in p["items"]]
    assert sample
    launcher.down(deployed.dir)
    for node in (1, 2, 3):
        launcher.start_node(deployed.dir, node)
    launcher.wait_for_leaders(deployed.dir, 60)
    after = deployed.wait_converged()
    digests = {p["id"]: p["replicas"][0]["digest"] for p in before["partitions"]}
    assert {p["id"]: p["replicas"][0]["digest"] for p in after["partitions"]} == digests
    for key in sample:
        got = deployed.call("GET", 2, f"/v1/process-instances/{key}")
        assert got.status_code == 200, got.text
    create(deployed, 3, process=PROCESS_WITHOUT_JOB)
