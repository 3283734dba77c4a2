"""Start and stop a local cluster of real `zennode` processes (`scripts/cluster`, tests, bench).

`up` writes one config per node into DIR (every config lists all members, so every node
computes the same placement), starts node i with `--port-base BASE + 100 * (i - 1)` in its own
session (logs `DIR/node<i>.log`, pid `DIR/node<i>.pid`), waits a bounded time until every
partition has a leader, and writes `DIR/cluster.json`:

    {"partitions": P, "replication_factor": R,
     "nodes": [{"id", "pid", "http", "grpc", "config", "log"}]}

`down` stops by PID what `up` started: SIGTERM, then SIGKILL after a bound. `kill_node` and
`start_node` let tests kill (SIGKILL) and restart single nodes. Nothing here binds outside
the host given (127.0.0.1 by default).

The network-partition suite gives each node its own address (`hosts`) and starts it through a
command prefix (`prefixes`, e.g. `ip netns exec NS`); the prefix is kept in cluster.json
(`prefix`), so `start_node` restarts a node the same way.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from zennode.config import PORT_OFFSET_GRPC, PORT_OFFSET_INTERNAL, PORT_OFFSET_RAFT_BASE

NODE_PORT_STRIDE = 100
DEFAULT_BASE_PORT = 26500  # `up` (scripts/cluster) without a base port: unreserved, see ports.py
UP_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
HTTP_TIMEOUT_S = 5.0
POLL_S = 0.2

EXIT_STATUS: dict[int, str] = {}  # pid -> how a child of this process ended (diagnostics)
# Nodes this process started. Keeping the Popen objects keeps their exit status ours: a
# collected Popen is reaped by the subprocess module behind our back.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def node_port_base(base_port: int, node_id: int) -> int:
    return base_port + NODE_PORT_STRIDE * (node_id - 1)


def member(node_id: int, base_port: int, host: str) -> dict[str, Any]:
    base = node_port_base(base_port, node_id)
    return {
        "id": node_id,
        "host": host,
        "ports": {
            "http": base,
            "grpc": base + PORT_OFFSET_GRPC,
            "internal": base + PORT_OFFSET_INTERNAL,
            "raft_base": base + PORT_OFFSET_RAFT_BASE,
        },
    }


def node_configs(
    directory: Path,
    nodes: int,
    partitions: int,
    replication: int,
    base_port: int,
    secret: str,
    host: str = "127.0.0.1",
    extra: dict[str, Any] | None = None,
    hosts: dict[int, str] | None = None,
) -> dict[int, dict[str, Any]]:
    """The config document of every node (node id -> YAML-ready dict); `hosts` gives nodes
    an address of their own (the others use `host`)."""
    hosts = hosts or {}
    members = [member(i, base_port, hosts.get(i, host)) for i in range(1, nodes + 1)]
    configs = {}
    for i in range(1, nodes + 1):
        doc: dict[str, Any] = {
            "node_id": i,
            "data_dir": str((directory / f"node{i}" / "data").resolve()),
            "partitions": partitions,
            "replication_factor": replication,
            "secret": secret,
            "members": members,
        }
        for key, value in (extra or {}).items():
            doc[key] = value
        configs[i] = doc
    return configs


def _paths(directory: Path, node_id: int) -> tuple[Path, Path, Path]:
    return (
        directory / f"node{node_id}.yaml",
        directory / f"node{node_id}.log",
        directory / f"node{node_id}.pid",
    )


def read_cluster(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "cluster.json").read_text())


def _write_cluster(directory: Path, cluster: dict[str, Any]) -> None:
    tmp = directory / "cluster.json.tmp"
    tmp.write_text(json.dumps(cluster, indent=2) + "\n")
    tmp.replace(directory / "cluster.json")


def start_node(directory: Path, node_id: int, python: str | None = None) -> int:
    """Start node `node_id` from `DIR/node<i>.yaml` in the background; its PID.

    A `prefix` recorded for the node in cluster.json (`up(prefixes=...)`) goes before the
    command; it must exec the command in place (as `ip netns exec` does), so the PID stays
    the node's."""
    config_path, log_path, pid_path = _paths(directory, node_id)
    doc = yaml.safe_load(config_path.read_text())
    me = next(m for m in doc["members"] if m["id"] == node_id)
    cluster_file = directory / "cluster.json"
    cluster = read_cluster(directory) if cluster_file.exists() else {"nodes": []}
    entry = next((n for n in cluster["nodes"] if n["id"] == node_id), {})
    command = [
        *entry.get("prefix", []),
        python or sys.executable,
        "-m",
        "zennode.cli",
        "start",
        "--config",
        str(config_path),
        "--port-base",
        str(me["ports"]["http"]),
    ]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal that ran `up` does not reach it
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        )
    _CHILDREN[process.pid] = process
    pid_path.write_text(f"{process.pid}\n")
    if cluster_file.exists():
        for node in cluster["nodes"]:
            if node["id"] == node_id:
                node["pid"] = process.pid
        _write_cluster(directory, cluster)
    return process.pid


def up(
    directory: str | Path = ".cluster",
    nodes: int = 3,
    partitions: int = 3,
    replication: int = 3,
    base_port: int = DEFAULT_BASE_PORT,
    host: str = "127.0.0.1",
    timeout_s: float = UP_TIMEOUT_S,
    extra: dict[str, Any] | None = None,
    hosts: dict[int, str] | None = None,
    prefixes: dict[int, list[str]] | None = None,
) -> dict[str, Any]:
    """Write configs, start every node, wait for a leader per partition; the cluster.json.

    `hosts`: an address per node id instead of `host`; `prefixes`: a command prefix per node
    id (see `start_node`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if any(_alive(pid) for pid in _pids(directory).values()):
        raise RuntimeError(f"a cluster is already running from {directory}; run down first")
    secret = _existing_secret(directory, nodes, partitions, replication) or secrets.token_urlsafe(
        32
    )
    configs = node_configs(
        directory, nodes, partitions, replication, base_port, secret, host, extra, hosts
    )
    cluster: dict[str, Any] = {"partitions": partitions, "replication_factor": replication}
    entries = []
    for node_id, doc in configs.items():
        config_path, log_path, _pid_path = _paths(directory, node_id)
        config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        os.chmod(config_path, 0o600)  # it holds the secret
        me = doc["members"][node_id - 1]
        ports, node_host = me["ports"], me["host"]
        entry: dict[str, Any] = {
            "id": node_id,
            "pid": 0,
            "http": f"http://{node_host}:{ports['http']}",
            "grpc": f"{node_host}:{ports['grpc']}",
            "config": str(config_path.resolve()),
            "log": str(log_path.resolve()),
        }
        if prefixes and node_id in prefixes:
            entry["prefix"] = list(prefixes[node_id])
        entries.append(entry)
    cluster["nodes"] = entries
    _write_cluster(directory, cluster)
    for node_id in configs:
        start_node(directory, node_id)
    try:
        wait_for_leaders(directory, timeout_s)
    except BaseException:
        down(directory)
        raise
    return read_cluster(directory)


def _existing_secret(directory: Path, nodes: int, partitions: int, replication: int) -> str:
    """The secret of a cluster `up` started in DIR before, so its data stays usable ('' if
    none). A different shape over existing data is refused: the journals would not fit."""
    cluster_file = directory / "cluster.json"
    config_file = directory / "node1.yaml"
    if not cluster_file.exists() or not config_file.exists():
        return ""
    old = read_cluster(directory)
    shape = (len(old["nodes"]), old["partitions"], old["replication_factor"])
    has_data = any((directory / f"node{i}" / "data").exists() for i in range(1, shape[0] + 1))
    if shape != (nodes, partitions, replication):
        if has_data:
            raise RuntimeError(
                f"{directory} holds the data of a cluster with {shape[0]} nodes, "
                f"{shape[1]} partitions, R={shape[2]}: use another --dir or remove it"
            )
        return ""
    return str(yaml.safe_load(config_file.read_text()).get("secret") or "")


def _pids(directory: Path) -> dict[int, int]:
    pids = {}
    for pid_file in sorted(directory.glob("node*.pid")):
        try:
            pids[int(pid_file.stem[4:])] = int(pid_file.read_text().strip())
        except ValueError:
            continue
    return pids


def _alive(pid: int) -> bool:
    """True if `pid` runs and is a zennode process (a reused PID is not ours)."""
    child = _CHILDREN.get(pid)
    if child is not None:  # started by this process: ask the Popen (it also reaps)
        code = child.poll()
        if code is None:
            return True
        how = f"exited with status {code}" if code >= 0 else f"killed by signal {-code}"
        EXIT_STATUS[pid] = how
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    if not cmdline:  # a zombie child of this process: reap it
        _reap(pid)
        return False
    return b"zennode" in cmdline


def _reap(pid: int) -> None:
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return
    if done:
        if os.WIFSIGNALED(status):
            EXIT_STATUS[pid] = f"killed by signal {os.WTERMSIG(status)}"
        else:
            EXIT_STATUS[pid] = f"exited with status {os.WEXITSTATUS(status)}"


def node_pid(directory: Path, node_id: int) -> int | None:
    pid = _pids(Path(directory)).get(node_id)
    return pid if pid is not None and _alive(pid) else None


def kill_node(directory: str | Path, node_id: int, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to node `node_id` and, for SIGKILL/SIGTERM, wait (bounded) until it is gone."""
    directory = Path(directory)
    pid = node_pid(directory, node_id)
    if pid is None:
        return
    os.kill(pid, sig)
    if sig in (signal.SIGKILL, signal.SIGTERM):
        _wait_gone(pid, STOP_GRACE_S if sig == signal.SIGTERM else 5.0)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def down(directory: str | Path = ".cluster", grace_s: float = STOP_GRACE_S) -> list[int]:
    """Stop every node `up` started: SIGTERM, SIGKILL after `grace_s`; the PIDs stopped."""
    directory = Path(directory)
    pids = {i: p for i, p in _pids(directory).items() if _alive(p)}
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    for pid in pids.values():
        if not _wait_gone(pid, max(0.1, deadline - time.monotonic())):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_gone(pid, 5.0)
    for pid_file in directory.glob("node*.pid"):
        pid_file.unlink(missing_ok=True)
    return sorted(pids.values())


def http_get(url: str, timeout_s: float = HTTP_TIMEOUT_S) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - our node
        return json.loads(response.read())


def topology(directory: str | Path, digests: bool = True) -> dict[str, Any]:
    """The topology as seen by the first node that answers."""
    last: Exception | None = None
    for entry in read_cluster(Path(directory))["nodes"]:
        try:
            flag = "true" if digests else "false"
            return http_get(f"{entry['http']}/v1/cluster/topology?digests={flag}")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
    raise RuntimeError(f"no node of the cluster answers: {last}")


def wait_for_leaders(
    directory: str | Path, timeout_s: float = UP_TIMEOUT_S, all_nodes: bool = True
) -> dict[str, Any]:
    """Wait until every partition has a leader (and, with `all_nodes`, every node started from
    DIR runs and answers); the topology then. A node that dies meanwhile fails at once."""
    directory = Path(directory)
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        for node_id, pid in _pids(directory).items():
            if all_nodes and not _alive(pid):
                _, log_path, _ = _paths(directory, node_id)
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                how = EXIT_STATUS.get(pid, "exited")
                raise RuntimeError(f"node {node_id} (pid {pid}) {how}:\n{tail}")
        try:
            last = topology(directory, digests=False)
        except RuntimeError as exc:
            last = str(exc)
        else:
            nodes_up = not all_nodes or all(n["up"] for n in last["nodes"])
            if nodes_up and all(p["leader"] is not None for p in last["partitions"]):
                return last
        time.sleep(POLL_S)
    raise TimeoutError(f"the cluster in {directory} has no leader for every partition: {last}")


def wait_balanced(directory: str | Path, timeout_s: float = 30.0) -> dict[int, int]:
    """Until each partition is led by its preferred replica (the leader balancer's goal, after
    which leadership does not move by itself); partition id -> leader node id."""
    deadline = time.monotonic() + timeout_s
    leaders: dict[int, int] = {}
    while time.monotonic() < deadline:
        try:
            topology_now = topology(directory, digests=False)
        except RuntimeError:
            time.sleep(POLL_S)
            continue
        leaders = {p["id"]: p["leader"] for p in topology_now["partitions"]}
        preferred = {p["id"]: p["replicas"][0]["node"] for p in topology_now["partitions"]}
        if leaders == preferred:
            return leaders
        time.sleep(POLL_S)
    raise TimeoutError(f"leaders of {directory} not balanced: {leaders}")
