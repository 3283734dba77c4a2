"""The cluster topology document (`GET /v1/cluster/topology`, `zennode status`).

Built from this node's own replica reports plus each peer's fresh answer; a peer that did not
answer is `up: false` and its replicas are listed without data. The leader of a partition is
the replica that says it leads with the highest term (two replicas can both believe it for a
moment after a partition heals; the higher term is the real one).
"""

from __future__ import annotations

from typing import Any

from zennode.cluster.router import ReplicaReport
from zennode.config import Config


def build_topology(
    config: Config,
    own: dict[int, ReplicaReport],
    peers: dict[int, dict[int, ReplicaReport] | None],
) -> dict[str, Any]:
    reports: dict[int, dict[int, ReplicaReport] | None] = {config.node_id: own, **peers}
    nodes = [
        {
            "id": m.id,
            "host": m.host,
            "http": f"http://{m.host}:{m.ports.http}",
            "grpc": f"{m.host}:{m.ports.grpc}",
            "internal": f"{m.host}:{m.ports.internal}",
            "raftBase": m.ports.raft_base,
            "up": reports.get(m.id) is not None,
            "self": m.id == config.node_id,
        }
        for m in sorted(config.members, key=lambda m: m.id)
    ]
    partitions = []
    for pid in config.partition_ids:
        replicas: list[dict[str, Any]] = []
        leader: tuple[int, int] | None = None
        for node_id in config.replicas_of(pid):
            node_reports = reports.get(node_id)
            report = node_reports.get(pid) if node_reports is not None else None
            if report is None:
                replicas.append({"node": node_id, "up": False})
                continue
            replicas.append(
                {
                    "node": node_id,
                    "up": True,
                    "role": report.role,
                    "term": report.term,
                    "appliedIndex": report.applied_index,
                    "digest": report.digest or None,
                }
            )
            if report.role == "leader" and (leader is None or report.term > leader[0]):
                leader = (report.term, node_id)
        leader_id = leader[1] if leader is not None else None
        partitions.append(
            {
                "id": pid,
                "leader": leader_id,
                "followers": [r["node"] for r in replicas if r["node"] != leader_id],
                "replicas": replicas,
            }
        )
    return {
        "nodeId": config.node_id,
        "partitionsCount": config.partitions,
        "replicationFactor": config.replication_factor,
        "nodes": nodes,
        "partitions": partitions,
    }


def format_topology(topology: dict[str, Any]) -> str:
    """The topology as two plain-text tables (what `zennode status` prints)."""
    lines = ["NODE  UP    HTTP                          GRPC                  INTERNAL"]
    for n in topology["nodes"]:
        up = "up" if n["up"] else "DOWN"
        lines.append(f"{n['id']:<5} {up:<5} {n['http']:<29} {n['grpc']:<21} {n['internal']}")
    lines.append("")
    lines.append("PARTITION  LEADER  FOLLOWERS  REPLICAS (node role applied-index digest)")
    for p in topology["partitions"]:
        leader = str(p["leader"]) if p["leader"] is not None else "none"
        followers = ",".join(str(f) for f in p["followers"]) or "-"
        replicas = "  ".join(_replica_cell(r) for r in p["replicas"])
        lines.append(f"{p['id']:<10} {leader:<7} {followers:<10} {replicas}")
    return "\n".join(lines)


def _replica_cell(replica: dict[str, Any]) -> str:
    if not replica.get("up"):
        return f"{replica['node']}:down"
    digest = (replica.get("digest") or "")[:8] or "-"
    return f"{replica['node']}:{replica['role']}@{replica['appliedIndex']}/{digest}"
