"""Which node leads each partition: the routing table of one node.

Sources, freshest first:
- a local replica knows its own role, and the Raft address of its leader (mapped back to a
  member id through the placement in the config);
- for partitions without a local replica (or whose local replica knows no leader), the roles
  that peers reported in their last answer to the periodic `Roles` poll.

A report older than `REPORT_TTL_S`, or from a peer that failed its last poll, is ignored, so a
killed leader stops being routed to within about a second. The poll is bounded: one call per
peer every `POLL_INTERVAL_S`, each with a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zennode.config import Config

log = logging.getLogger("zennode.cluster.router")

POLL_INTERVAL_S = 0.25
POLL_TIMEOUT_S = 1.0
REPORT_TTL_S = 2.0


@dataclass(slots=True)
class ReplicaReport:
    role: str
    leader_node: int | None
    term: int
    applied_index: int
    digest: str = ""


@dataclass(slots=True)
class PeerState:
    up: bool = False
    seen_at: float = 0.0  # monotonic time of the last answer
    replicas: dict[int, ReplicaReport] = field(default_factory=dict)


class Router:
    """The leader table. Read from the node's loop; updated by `poll_forever` on that loop."""

    def __init__(self, config: Config, local_partitions: Callable[[], dict[int, Any]]) -> None:
        self.config = config
        self._local = local_partitions
        self.raft_owner: dict[str, int] = {
            f"{m.host}:{m.ports.raft(p)}": m.id
            for m in config.members
            for p in config.partition_ids
        }
        self.peers: dict[int, PeerState] = {
            m.id: PeerState() for m in config.members if m.id != config.node_id
        }

    # --------------------------------------------------------------- lookup

    def local_report(self, partition: Any) -> ReplicaReport:
        status = partition.status()
        leader_address = status.get("leader")
        return ReplicaReport(
            role=str(status.get("role", "follower")),
            leader_node=self.raft_owner.get(leader_address) if leader_address else None,
            term=int(status.get("term") or 0),
            applied_index=int(status.get("applied_index") or 0),
        )

    def leader_of(self, partition_id: int) -> int | None:
        """The member id leading `partition_id` as far as this node knows, or None."""
        me = self.config.node_id
        local = self._local().get(partition_id)
        if local is not None:
            if local.is_leader:
                return me
            address = local.leader_address
            owner = self.raft_owner.get(address) if address else None
            if owner is not None and owner != me and self._usable(owner):
                return owner
        best: tuple[int, int] | None = None  # (term, node id) of a replica that says "leader"
        hint: tuple[int, int] | None = None  # (term, node id) a follower points at
        now = time.monotonic()
        for node_id, peer in self.peers.items():
            if not peer.up or now - peer.seen_at > REPORT_TTL_S:
                continue
            report = peer.replicas.get(partition_id)
            if report is None:
                continue
            if report.role == "leader":
                if best is None or report.term > best[0]:
                    best = (report.term, node_id)
            elif report.leader_node is not None and report.leader_node != me:
                if self._usable(report.leader_node) and (hint is None or report.term > hint[0]):
                    hint = (report.term, report.leader_node)
        if best is not None:
            return best[1]
        return hint[1] if hint is not None else None

    def _usable(self, node_id: int) -> bool:
        peer = self.peers.get(node_id)
        return peer is None or peer.up or peer.seen_at == 0.0

    def is_up(self, node_id: int) -> bool:
        if node_id == self.config.node_id:
            return True
        peer = self.peers.get(node_id)
        return peer is not None and peer.up

    def mark_unreachable(self, node_id: int) -> None:
        """A call to `node_id` could not connect: stop routing there until it answers a poll."""
        peer = self.peers.get(node_id)
        if peer is not None and peer.up:
            log.info("node %s is unreachable", node_id)
            peer.up = False

    def forget(self, node_id: int, partition_id: int) -> None:
        """`node_id` said it does not lead `partition_id`: drop that part of its report."""
        peer = self.peers.get(node_id)
        if peer is not None:
            peer.replicas.pop(partition_id, None)

    # ---------------------------------------------------------------- polls

    def record(self, node_id: int, reply: Any | None) -> None:
        """Store a peer's `RolesReply` (None: it did not answer)."""
        peer = self.peers.get(node_id)
        if peer is None:
            return
        if reply is None:
            if peer.up:
                log.info("node %s stopped answering", node_id)
            peer.up = False
            return
        if not peer.up:
            log.info("node %s is up", node_id)
        peer.up = True
        peer.seen_at = time.monotonic()
        peer.replicas = {
            r.partition_id: ReplicaReport(
                role=r.role,
                leader_node=r.leader_node or None,
                term=r.term,
                applied_index=r.applied_index,
                digest=r.digest,
            )
            for r in reply.replicas
        }

    async def poll_forever(self, peers: Any) -> None:
        """Ask every peer for its roles every POLL_INTERVAL_S (each call bounded)."""
        while True:
            replies = await peers.roles_of_all(with_digest=False, timeout_s=POLL_TIMEOUT_S)
            for node_id, reply in replies.items():
                self.record(node_id, reply)
            await asyncio.sleep(POLL_INTERVAL_S)
