"""Routing pieces without processes: the leader table and errors across the wire."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from zennode.cluster import wire
from zennode.cluster.batcher import NotCommitted, OutcomeUnknown
from zennode.cluster.proto import cluster_pb2 as pb
from zennode.cluster.router import REPORT_TTL_S, Router
from zennode.cluster.topology import build_topology, format_topology
from zennode.config import Member, Ports, default_config
from zennode.engine.commands import TimeoutJobs
from zennode.engine.outcome import Outcome
from zennode.errors import Backpressure, InvalidState, NotFound, Unavailable, http_status


def three_nodes() -> Any:
    members = tuple(Member(id=i, ports=Ports.from_base(20_000 + 100 * i)) for i in (1, 2, 3))
    return replace(
        default_config(), members=members, partitions=3, replication_factor=2, secret="s"
    )


class FakeReplica:
    def __init__(self, leader: bool, leader_address: str | None) -> None:
        self.is_leader = leader
        self.leader_address = leader_address

    def status(self) -> dict[str, Any]:
        return {
            "role": "leader" if self.is_leader else "follower",
            "leader": self.leader_address,
            "term": 4,
            "applied_index": 9,
        }


def roles(*replicas: tuple[int, str, int, int]) -> pb.RolesReply:
    return pb.RolesReply(
        replicas=[
            pb.ReplicaRole(partition_id=p, role=role, leader_node=leader, term=term)
            for p, role, leader, term in replicas
        ]
    )


def test_placement_is_consecutive_members_from_p_minus_1_mod_n() -> None:
    config = three_nodes()
    assert [config.replicas_of(p) for p in (1, 2, 3)] == [[1, 2], [2, 3], [3, 1]]
    assert config.local_partition_ids == [1, 3]  # node 1


def test_a_local_replica_knows_its_leader_by_raft_address() -> None:
    config = three_nodes()
    node2 = config.members[1]
    local = {
        1: FakeReplica(False, f"{node2.host}:{node2.ports.raft(1)}"),
        3: FakeReplica(True, None),
    }
    router = Router(config, lambda: local)
    assert router.leader_of(1) == 2
    assert router.leader_of(3) == 1
    assert router.leader_of(2) is None  # not local, no peer report yet


def test_peer_reports_fill_in_partitions_without_a_local_replica() -> None:
    config = three_nodes()
    router = Router(config, dict)
    router.record(2, roles((2, "follower", 3, 5)))
    assert router.leader_of(2) == 3  # a follower's hint
    router.record(3, roles((2, "leader", 0, 6)))
    assert router.leader_of(2) == 3
    router.record(2, roles((2, "leader", 0, 4)))  # a stale leader (older term) loses
    assert router.leader_of(2) == 3


def test_stale_and_unreachable_peers_are_not_routed_to() -> None:
    config = three_nodes()
    router = Router(config, dict)
    router.record(3, roles((2, "leader", 0, 6)))
    assert router.leader_of(2) == 3
    router.mark_unreachable(3)
    assert router.leader_of(2) is None and not router.is_up(3)
    router.record(3, roles((2, "leader", 0, 6)))
    assert router.leader_of(2) == 3
    router.peers[3].seen_at = time.monotonic() - REPORT_TTL_S - 1
    assert router.leader_of(2) is None
    router.record(3, None)  # a failed poll
    assert not router.is_up(3)


@pytest.mark.parametrize(
    "error",
    [
        NotCommitted("not the leader", 2),
        OutcomeUnknown("broke after sending", 3),
        Backpressure("queue full", 1),
        Unavailable("no leader", 2),
        NotFound("job 5 not found"),
        InvalidState("job 5 is completed"),
    ],
)
def test_errors_keep_their_class_and_partition_across_the_wire(error: Any) -> None:
    again = wire.error_from_wire(wire.loads(wire.dumps(wire.error_to_dict(error))))
    assert type(again) is type(error)
    assert again.message == error.message
    assert http_status(again) == http_status(error)
    assert getattr(again, "partition_id", None) == getattr(error, "partition_id", None)


def test_topology_marks_silent_nodes_down_and_picks_the_highest_term_leader() -> None:
    config = three_nodes()
    report = SimpleNamespace
    own = {1: report(role="leader", leader_node=1, term=3, applied_index=7, digest="a")}
    peers = {
        2: {
            1: report(role="leader", leader_node=2, term=4, applied_index=7, digest="a"),
            2: report(role="leader", leader_node=2, term=1, applied_index=2, digest="b"),
        },
        3: None,
    }
    topology = build_topology(config, own, peers)  # type: ignore[arg-type]
    assert [(n["id"], n["up"]) for n in topology["nodes"]] == [(1, True), (2, True), (3, False)]
    p1, p2, p3 = topology["partitions"]
    assert (p1["leader"], p1["followers"]) == (2, [1])
    assert p2["leader"] == 2 and p2["replicas"][1] == {"node": 3, "up": False}
    assert p3["leader"] is None
    table = format_topology(topology)
    assert "DOWN" in table and "3:down" in table


class ScriptedPeers:
    """`Peers.submit` answering from a script, one answer per call; records who was asked."""

    def __init__(self, answers: list[Outcome], on_call: Any = None) -> None:
        self.answers = answers
        self.on_call = on_call
        self.calls: list[int] = []
        self.commands: list[Any] = []

    async def submit(
        self, node_id: int, partition_id: int, command: Any, timeout: float
    ) -> Outcome:
        self.calls.append(node_id)
        self.commands.append(command)
        if self.on_call is not None:
            self.on_call(node_id)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]  # the last repeats


def routing_node(leader_wait_ms: int) -> Any:
    """Node 1 of `three_nodes()` with no local replicas started: every command is forwarded."""
    from zennode.node import Node

    config = three_nodes()
    config = replace(config, limits=replace(config.limits, leader_wait_ms=leader_wait_ms))
    return Node(config, serve_http=False, serve_grpc=False)


def test_a_forwarded_not_committed_is_re_routed_to_the_new_leader() -> None:
    node = routing_node(leader_wait_ms=2_000)
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))  # node 2 leads partition 2 ...

    def leadership_moves(node_id: int) -> None:  # ... and hands it to node 3 as it is asked
        if node_id == 2:
            node.cluster.router.record(3, roles((2, "leader", 0, 6)))

    node.cluster.peers = ScriptedPeers(
        [
            Outcome(error=NotCommitted("node 2 does not lead partition 2", 2)),
            Outcome(result={"done": True}),
        ],
        on_call=leadership_moves,
    )
    outcome = asyncio.run(node.cluster.submit(2, TimeoutJobs()))
    assert outcome.result == {"done": True}
    assert node.cluster.peers.calls == [2, 3]


def test_forwarded_not_committed_is_retried_only_for_leader_wait_ms() -> None:
    node = routing_node(leader_wait_ms=300)
    node2 = node.config.members[1]
    # Node 1's follower replica of partition 1 keeps pointing at node 2, which keeps refusing.
    node.cluster.local_partitions[1] = FakeReplica(False, f"{node2.host}:{node2.ports.raft(1)}")
    node.cluster.peers = ScriptedPeers([Outcome(error=NotCommitted("not committed", 1))])
    started = time.monotonic()
    with pytest.raises(Unavailable) as refused:
        asyncio.run(node.cluster.submit(1, TimeoutJobs()))
    waited = time.monotonic() - started
    assert not isinstance(refused.value, NotCommitted | OutcomeUnknown)  # the final 503
    assert refused.value.partition_id == 1 and "not committed" in str(refused.value)
    assert 0.3 <= waited < 2.0
    assert 2 <= len(node.cluster.peers.calls) <= 30  # retried, at LEADER_POLL_S intervals
    assert set(node.cluster.peers.calls) == {2}


def test_other_forwarded_errors_are_not_retried() -> None:
    node = routing_node(leader_wait_ms=2_000)
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))
    error = InvalidState("job 5 is completed")
    node.cluster.peers = ScriptedPeers([Outcome(error=error)])
    outcome = asyncio.run(node.cluster.submit(2, TimeoutJobs()))
    assert outcome.error is error and node.cluster.peers.calls == [2]


def test_a_forwarded_command_whose_answer_was_lost_is_sent_again_with_the_same_key() -> None:
    # The node gives every forwarded command an idempotency key: after OutcomeUnknown it can
    # ask again, and the partition answers a repeat with the first outcome (applied once).
    node = routing_node(leader_wait_ms=2_000)
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))
    unknown = OutcomeUnknown("leader changed after the command was appended", 2)
    node.cluster.peers = ScriptedPeers([Outcome(error=unknown), Outcome(result={"ok": 1})])
    outcome = asyncio.run(node.cluster.submit(2, TimeoutJobs()))
    assert outcome.result == {"ok": 1} and node.cluster.peers.calls == [2, 2]
    first, again = node.cluster.peers.commands
    assert first == again and first["idempotency"]["kind"] == "node"


def test_a_lost_answer_without_a_key_is_reported_after_leader_wait_ms() -> None:
    node = routing_node(leader_wait_ms=300)
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))
    node.cluster.peers = ScriptedPeers([Outcome(error=OutcomeUnknown("lost", 2))])
    with pytest.raises(OutcomeUnknown):
        asyncio.run(node.cluster.submit(2, TimeoutJobs()))
    assert len(set(map(str, node.cluster.peers.commands))) == 1  # always the same key


class HangingPeers:
    """`Peers` whose calls to `silent` never answer (a leader cut off or frozen: no reset, no
    refusal); the others answer `answer` after `delay_s`. Records calls and cancellations."""

    def __init__(self, silent: set[int], answer: Any, delay_s: float = 0.0) -> None:
        self.silent = silent
        self.answer = answer
        self.delay_s = delay_s
        self.calls: list[int] = []
        self.commands: list[Any] = []
        self.cancelled: list[int] = []

    async def _call(self, node_id: int) -> Any:
        self.calls.append(node_id)
        try:
            if node_id in self.silent:
                await asyncio.Event().wait()
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled.append(node_id)
            raise
        return self.answer

    async def submit(self, node_id: int, partition_id: int, command: Any, timeout: float) -> Any:
        self.commands.append(command)
        return await self._call(node_id)

    async def read(self, node_id: int, partition_id: int, query: str, args: Any, timeout: float):
        return await self._call(node_id)


def fast_raft_node() -> Any:
    """`routing_node` with short election timeouts (forwarding deadlines follow them)."""
    node = routing_node(leader_wait_ms=5_000)
    raft = replace(node.config.raft, min_timeout_s=0.3, max_timeout_s=0.6)
    node.cluster.config = replace(node.cluster.config, raft=raft)
    return node


async def _move_leadership_soon(node: Any, to: int) -> None:
    await asyncio.sleep(0.2)
    node.cluster.router.record(2, None)  # node 2 stops answering role polls
    node.cluster.router.record(to, roles((2, "leader", 0, 6)))


def test_a_command_forwarded_to_a_leader_that_went_silent_is_sent_to_the_new_one() -> None:
    node = fast_raft_node()
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))
    node.cluster.peers = HangingPeers(silent={2}, answer=Outcome(result={"done": True}))

    async def scenario() -> Outcome:
        mover = asyncio.ensure_future(_move_leadership_soon(node, to=3))
        try:
            # bounded far below request_timeout_ms (10 s), which it used to wait for
            return await asyncio.wait_for(node.cluster.submit(2, TimeoutJobs()), 5.0)
        finally:
            await mover

    assert asyncio.run(scenario()).result == {"done": True}
    peers = node.cluster.peers
    assert peers.calls == [2, 3] and peers.cancelled == [2]
    # The outcome at node 2 is unknown: the repeat carries the same key (applied at most once).
    first, again = peers.commands
    assert first == again and first["idempotency"]["kind"] == "node"


def test_a_read_forwarded_to_a_leader_that_went_silent_is_answered_by_the_new_one() -> None:
    node = fast_raft_node()
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))
    node.cluster.peers = HangingPeers(silent={2}, answer={"key": 7})

    async def scenario() -> Any:
        mover = asyncio.ensure_future(_move_leadership_soon(node, to=3))
        try:
            return await asyncio.wait_for(node.cluster.read(2, "get_job", key=7), 5.0)
        finally:
            await mover

    assert asyncio.run(scenario()) == {"key": 7}
    assert node.cluster.peers.calls == [2, 3] and node.cluster.peers.cancelled == [2]


def test_a_slow_leader_that_still_leads_is_waited_for() -> None:
    node = fast_raft_node()  # forwarding deadline: 2 x 0.6 s
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))
    node.cluster.peers = HangingPeers(silent=set(), answer=Outcome(result={"done": 1}), delay_s=1.5)
    outcome = asyncio.run(node.cluster.submit(2, TimeoutJobs()))
    assert outcome.result == {"done": 1} and node.cluster.peers.cancelled == []


def test_a_silent_target_is_given_up_after_the_deadline_when_no_leader_is_known() -> None:
    node = fast_raft_node()  # forwarding deadline: 2 x 0.6 s
    node.cluster.config = replace(
        node.cluster.config, limits=replace(node.cluster.config.limits, leader_wait_ms=1_500)
    )
    node.cluster.router.record(2, roles((2, "leader", 0, 5)))
    node.cluster.peers = HangingPeers(silent={2}, answer=Outcome(result={}))

    async def scenario() -> Outcome:
        async def silence() -> None:
            await asyncio.sleep(0.2)
            node.cluster.router.record(2, None)  # no answer to polls; nobody else known

        quiet = asyncio.ensure_future(silence())
        try:
            return await asyncio.wait_for(node.cluster.submit(2, TimeoutJobs()), 5.0)
        finally:
            await quiet

    # Abandoned after its deadline; no leader to re-send it to within leader_wait_ms.
    with pytest.raises(OutcomeUnknown, match="did not answer"):
        asyncio.run(scenario())
    assert node.cluster.peers.calls == [2] and node.cluster.peers.cancelled == [2]


# ------------------------------------------------ where new instances go (next_partition)


def cluster_of(node_id: int, leads: set[int], partitions: int = 3) -> Any:
    """A `Cluster` for node `node_id` of three (every partition on every node) whose local
    replicas lead exactly `leads`; no process, no Raft."""
    from zennode.cluster.client import Cluster

    config = replace(three_nodes(), node_id=node_id, partitions=partitions, replication_factor=3)
    cluster = Cluster(config)
    cluster.local_partitions = {
        pid: FakeReplica(pid in leads, None) for pid in config.local_partition_ids
    }
    return cluster


def test_new_instances_go_round_robin_over_the_partitions_this_node_leads() -> None:
    cluster = cluster_of(1, leads={1, 3})
    assert [cluster.next_partition() for _ in range(6)] == [1, 3, 1, 3, 1, 3]


def test_a_node_that_leads_nothing_spreads_new_instances_over_every_partition() -> None:
    cluster = cluster_of(1, leads=set())
    assert sorted(cluster.next_partition() for _ in range(6)) == [1, 1, 2, 2, 3, 3]
    no_replicas = replace(three_nodes(), replication_factor=1, partitions=2)  # node 1: p1
    from zennode.cluster.client import Cluster

    bare = Cluster(replace(no_replicas, node_id=3))  # node 3 holds no replica at all
    assert sorted(bare.next_partition() for _ in range(4)) == [1, 1, 2, 2]


def test_asked_for_all_partitions_a_leader_still_spreads_over_every_one() -> None:
    # The Zeebe gateway's creations: round robin over all partitions, as Zeebe's gateway.
    cluster = cluster_of(1, leads={1})
    assert [cluster.next_partition(local_first=False) for _ in range(6)] == [1, 2, 3, 1, 2, 3]


def test_new_instances_follow_leadership_as_it_moves() -> None:
    cluster = cluster_of(1, leads={1})
    assert {cluster.next_partition() for _ in range(4)} == {1}
    cluster.local_partitions[1].is_leader = False  # leadership moves to another node ...
    cluster.local_partitions[2].is_leader = True  # ... and this node gains partition 2
    assert {cluster.next_partition() for _ in range(4)} == {2}


def test_balanced_leaders_and_clients_over_all_nodes_give_every_partition_a_share() -> None:
    # Six partitions, each node leading two (what the leader balancer does): 60 creations
    # sent round robin over the three nodes land 10 on each partition, none forwarded.
    leaders = {1: {1, 4}, 2: {2, 5}, 3: {3, 6}}
    clusters = {n: cluster_of(n, leads, partitions=6) for n, leads in leaders.items()}
    placed: dict[int, int] = {}
    for i in range(60):
        node = i % 3 + 1
        pid = clusters[node].next_partition()
        assert pid in leaders[node]  # led by the node that received it: no forward
        placed[pid] = placed.get(pid, 0) + 1
    assert placed == {pid: 10 for pid in range(1, 7)}


def test_the_zeebe_gateway_creates_round_robin_over_all_partitions() -> None:
    # Zeebe clients usually talk to one gateway address: its creations must not all land on
    # that node's partitions, so the gateway asks the service for all of them.
    from pyzeebe.proto import gateway_pb2 as gw

    from zennode.api.zeebe.gateway import GatewayService

    calls: list[dict[str, Any]] = []

    class RecordingService:
        async def create_instance(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {}

    gateway = SimpleNamespace(service=RecordingService())
    for request in (
        gw.CreateProcessInstanceRequest(bpmnProcessId="p"),
        gw.CreateProcessInstanceRequest(processDefinitionKey=7),
    ):
        asyncio.run(GatewayService._create(gateway, request))  # type: ignore[arg-type]
    assert [call["local_first"] for call in calls] == [False, False]


def test_a_rest_creation_goes_to_a_led_partition_and_a_keyed_one_to_its_key() -> None:
    from zennode.service import Service, key_partition

    cluster = cluster_of(1, leads={3})
    submitted: list[int] = []

    async def submit(pid: int, command: Any, idempotency: Any = None) -> Outcome:
        submitted.append(pid)
        return Outcome(result={"processInstanceKey": 1})

    cluster.submit = submit
    service = Service(cluster, cluster.config.limits)
    for _ in range(2):
        asyncio.run(service.create_instance(bpmn_process_id="p"))
    asyncio.run(service.create_instance(bpmn_process_id="p", idempotency_key="k-1"))
    assert submitted == [3, 3, key_partition("k-1", [1, 2, 3])]


class LeadingReplica(FakeReplica):
    """A local leader that commits at once and keeps what it was given."""

    def __init__(self) -> None:
        super().__init__(True, None)
        self.submitted: list[dict[str, Any]] = []

    def submit(self, command: dict[str, Any]) -> Future[Outcome]:
        self.submitted.append(command)
        done: Future[Outcome] = Future()
        done.set_result(Outcome(result={"ok": 1}))
        return done


def test_a_command_committed_here_draws_no_node_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # The `node` idempotency key is for forwarded commands only: made on the first forward,
    # never for the (most common) command a local leader commits — it cost a uuid4 and a
    # request digest per command on the node's loop.
    node = routing_node(leader_wait_ms=2_000)
    replica = LeadingReplica()
    node.cluster.local_partitions[1] = replica

    def no_uuid() -> None:
        raise AssertionError("a node key was made for a local commit")

    monkeypatch.setattr("zennode.cluster.client.uuid.uuid4", no_uuid)
    outcome = asyncio.run(node.cluster.submit(1, TimeoutJobs()))
    assert outcome.result == {"ok": 1}
    (command,) = replica.submitted
    assert "idempotency" not in command
