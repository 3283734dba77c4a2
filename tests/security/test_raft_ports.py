"""Raft and internal ports of real `zennode start` processes: authenticated and bound only to
the configured host.

- A crafted pickle sent to a node's Raft port is never executed (the sealed transport
  authenticates every frame before unpickling; a single node gets a random secret).
- A PySyncObj peer with the wrong password, sitting at a member's own Raft address, is refused:
  it never joins, never sees a log entry, and the real replicas go on without it.
- Every port of a node listens on the configured host only (/proc/net/tcp; no 0.0.0.0, no
  IPv6 wildcard), so the same port on 127.0.0.2 is refused.
"""

from __future__ import annotations

import ipaddress
import pickle
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pysyncobj import SyncObj, SyncObjConf, replicated
from support.bpmn import bpmn, flow, start
from support.ports import reserve_cluster
from support.waits import wait_until

from zennode.cluster.raft_transport import sealed_transport
from zennode.tools import launcher

WAIT_S = 60.0
REST_TIMEOUT_S = 15.0

MODEL = bpmn(start("s") + '<bpmn:userTask id="u"/>' + flow("f", "s", "u"), "raftsafe")


class Exploit:
    """Unpickling this creates `path`: proof of code execution if the file ever appears."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def write_configs(
    directory: Path, nodes: int, partitions: int, host: str = "127.0.0.1", **extra: Any
) -> dict[int, dict]:
    base = reserve_cluster(nodes, partitions, host).base  # released when the test ends
    secret = "raft-port-test-secret-0123456789"
    configs = launcher.node_configs(
        directory, nodes, partitions, nodes, base, secret, host, extra=extra or None
    )
    for node_id, doc in configs.items():
        (directory / f"node{node_id}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return configs


def http_url(doc: dict, node_id: int) -> str:
    member = next(m for m in doc["members"] if m["id"] == node_id)
    return f"http://{member['host']}:{member['ports']['http']}"


def wait_ready(url: str) -> None:
    def ready() -> bool:
        try:
            return httpx.get(f"{url}/system/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, WAIT_S, f"{url} to be ready", interval_s=0.2)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Path]:
    """A directory for node processes; whatever was started from it is stopped afterwards."""
    yield tmp_path
    launcher.down(tmp_path)


def _address(hex_address: str) -> str:
    """/proc/net/tcp* address (little-endian 32-bit words) to text; v4-mapped IPv6 as IPv4."""
    raw = bytes.fromhex(hex_address)
    host_order = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(host_order)
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def listening(port: int) -> list[str]:
    """Local addresses listening on `port`, from /proc/net/tcp and /proc/net/tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, port_hex = local.rpartition(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.append(_address(address))
    return found


def node_ports(doc: dict, node_id: int, partitions: int) -> dict[str, int]:
    ports = next(m for m in doc["members"] if m["id"] == node_id)["ports"]
    named = {name: ports[name] for name in ("http", "grpc", "internal")}
    for p in range(1, partitions + 1):
        named[f"raft{p}"] = ports["raft_base"] + p
    return named


def send_pickles(port: int, marker: Path) -> None:
    """What an attacker would send: framed zlib pickle (PySyncObj's wire form), raw pickle,
    and a frame that claims 2 GiB."""
    payload = pickle.dumps(Exploit(marker), protocol=2)
    for data in (
        struct.pack("i", len(zlib.compress(payload))) + zlib.compress(payload),
        struct.pack("i", len(payload)) + payload,
        payload,
        struct.pack("i", 2**31 - 1) + b"x" * 1000,
    ):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(data)
                time.sleep(0.2)
        except OSError:
            pass  # the node may drop the connection at once: that is fine


def test_single_node_process_never_unpickles_raft_input_and_binds_only_its_host(
    processes: Path,
) -> None:
    # The embedded default: one node, no secret configured (a random one is used inside).
    configs = write_configs(processes, 1, 1, secret=None)
    launcher.start_node(processes, 1)
    url = http_url(configs[1], 1)
    wait_ready(url)

    marker = processes / "pwned"
    ports = node_ports(configs[1], 1, 1)
    send_pickles(ports["raft1"], marker)
    time.sleep(0.5)
    assert not marker.exists()
    # The node still serves and still commits through its Raft group.
    with httpx.Client(base_url=url, timeout=REST_TIMEOUT_S) as http:
        deployed = http.post(
            "/v1/process-definitions", content=MODEL, headers={"content-type": "application/xml"}
        )
        assert deployed.status_code == 201, deployed.text
        created = http.post("/v1/process-instances", json={"bpmnProcessId": "raftsafe"})
        assert created.status_code == 201, created.text
    del ports["internal"]  # a single node serves no internal port
    for name, port in ports.items():
        assert listening(port) == ["127.0.0.1"], (name, port, listening(port))
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", port), timeout=1).close()


class Rogue(SyncObj):
    """A PySyncObj peer at a member's Raft address (with the wrong secret, an intruder),
    speaking the cluster's sealed transport (zennode/cluster/raft_transport.py)."""

    def __init__(self, address: str, peers: list[str], journal: Path, password: str) -> None:
        conf = SyncObjConf(
            bindAddress=address,
            appendEntriesUseBatch=False,
            dynamicMembershipChange=False,
            journalFile=str(journal),
        )
        self.applied: list[Any] = []
        super().__init__(address, peers, conf, transportClass=sealed_transport(password))

    @replicated
    def apply_batch(self, payload: bytes) -> None:  # the name our partitions replicate
        self.applied.append(payload)


def test_a_peer_with_the_wrong_secret_is_refused_and_sees_no_log(processes: Path) -> None:
    configs = write_configs(processes, 3, 1)
    for node_id in (1, 2):
        launcher.start_node(processes, node_id)
    doc = configs[1]
    raft = {m["id"]: f"127.0.0.1:{m['ports']['raft_base'] + 1}" for m in doc["members"]}
    rogue = Rogue(raft[3], [raft[1], raft[2]], processes / "rogue.journal", "not-the-secret")
    try:
        url = http_url(doc, 1)
        wait_ready(url)
        wait_ready(http_url(doc, 2))
        with httpx.Client(base_url=url, timeout=REST_TIMEOUT_S) as http:
            deployed = http.post(
                "/v1/process-definitions",
                content=MODEL,
                headers={"content-type": "application/xml"},
            )
            assert deployed.status_code == 201, deployed.text
            for _ in range(5):
                created = http.post("/v1/process-instances", json={"bpmnProcessId": "raftsafe"})
                assert created.status_code == 201, created.text
            time.sleep(2.0)  # several append-entries periods and election timeouts
            topology = http.get("/v1/cluster/topology").json()
        status = rogue.getStatus()
        assert rogue.applied == []
        assert status["commit_idx"] <= 1 and status["leader"] is None, status
        assert not rogue.isReady()
        # The real replicas agree on a leader among themselves and never count the rogue.
        [partition] = topology["partitions"]
        assert partition["leader"] in (1, 2), partition
        assert all(node["id"] != 3 or node.get("up") is not True for node in topology["nodes"])
    finally:
        rogue.destroy()
    # In a cluster every port, the internal one included, listens on the member's host only.
    for name, port in node_ports(doc, 1, 1).items():
        assert listening(port) == ["127.0.0.1"], (name, port, listening(port))
    # Control: the same peer WITH the secret does receive the log, so the check above can fail.
    member = Rogue(raft[3], [raft[1], raft[2]], processes / "member.journal", doc["secret"])
    try:
        wait_until(
            lambda: member.applied,
            15,
            lambda: f"the log at a peer with the secret: {member.getStatus()}",
            interval_s=0.1,
        )
    finally:
        member.destroy()


def test_every_port_follows_the_configured_host(processes: Path) -> None:
    """A node configured on 127.0.0.2 listens there and nowhere else (not on 127.0.0.1)."""
    configs = write_configs(processes, 1, 2, host="127.0.0.2", secret=None)
    launcher.start_node(processes, 1)
    wait_ready(http_url(configs[1], 1))
    ports = node_ports(configs[1], 1, 2)
    del ports["internal"]  # a single node serves no internal port
    for name, port in ports.items():
        assert listening(port) == ["127.0.0.2"], (name, port, listening(port))
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
