"""One partition replica on PySyncObj + LMDB, with a toy apply function (a counter in `meta`).

Every test binds 127.0.0.1 on free ports, bounds every wait and stops what it started.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from pysyncobj import version as pysyncobj_version
from pysyncobj.transport import TCPTransport
from support.ports import reserve_port
from support.waits import wait_until

from zennode.cluster import NotCommitted
from zennode.cluster.partition import Partition, PartitionSettings
from zennode.engine.outcome import Outcome
from zennode.engine.storage import KVWrite
from zennode.errors import (
    Backpressure,
    ConfigError,
    InvalidState,
    TooLarge,
    Unavailable,
    ZennodeError,
)
from zennode.state.snapshot import SnapshotCodec

pytestmark = pytest.mark.timeout(60)


def counter_apply(txn: KVWrite, command: dict) -> Outcome:
    """Toy engine: `inc` bumps a counter and records the command; `bad` fails cleanly;
    `boom` raises (a bug); `broken` fails an assertion (a violated invariant); `blob` stores
    a payload."""
    kind = command["type"]
    if kind == "bad":
        return Outcome(error=InvalidState("refused"))
    if kind == "boom":
        raise RuntimeError("bug in the engine")
    if kind == "broken":
        raise AssertionError("an engine invariant does not hold")
    raw = txn.get("meta", b"counter")
    count = (int.from_bytes(raw, "big") if raw else 0) + 1
    txn.put("meta", b"counter", count.to_bytes(8, "big"))
    body = command.get("blob", b"") if kind == "blob" else str(command.get("n")).encode()
    txn.put("jobs", count.to_bytes(8, "big"), body)
    return Outcome(
        result={"count": count, "now_ms": command["now_ms"]},
        events=[{"event": "counted", "count": count}],
    )


def read_counter(partition: Partition) -> int:
    with partition.read() as txn:
        raw = txn.get("meta", b"counter")
    return int.from_bytes(raw, "big") if raw else 0


def wait_leader(partition: Partition, timeout_s: float = 10.0) -> None:
    wait_until(lambda: partition.is_leader, timeout_s, "leadership")


@pytest.fixture
def started() -> Iterator[list[Partition]]:
    """Collects partitions a test starts and stops them all, whatever happens."""
    partitions: list[Partition] = []
    yield partitions
    for partition in partitions:
        partition.stop()


def start_single(started, tmp_path, address: str | None = None, **overrides) -> Partition:
    settings = PartitionSettings(
        partition_id=1,
        self_address=address or reserve_port().address(),
        data_dir=tmp_path / "p1",
        **overrides,
    )
    events: list[dict] = []
    partition = Partition(settings, counter_apply, events.extend)
    partition.test_events = events  # type: ignore[attr-defined]
    started.append(partition)
    wait_leader(partition)
    return partition


def test_many_commands_are_batched_and_answered_in_order(started, tmp_path):
    partition = start_single(started, tmp_path, batch_max_delay_ms=5.0)
    count = 3000
    futures = [partition.submit({"type": "inc", "n": i}) for i in range(count)]
    outcomes = [f.result(timeout=20) for f in futures]

    assert [o.result["count"] for o in outcomes] == list(range(1, count + 1))
    stamps = [o.result["now_ms"] for o in outcomes]
    assert stamps == sorted(stamps) and stamps[0] > 1_600_000_000_000  # leader wall clock
    assert read_counter(partition) == count
    status = partition.status()
    assert status["batches_sent"] < count / 5  # batching happened
    assert status["log_entries"] < count / 5
    assert status["max_batch_items"] > 1
    assert status["command_gap_ms"] >= 0 and status["batch_round_trip_ms"] > 0  # measured
    # The applied index stored in LMDB is the Raft index (raftLastApplied + 1 inside apply).
    wait_until(lambda: partition.status()["raft_applied_index"] == status["commit_index"], 5, "")
    assert partition.applied_index() == partition.status()["raft_applied_index"]
    wait_until(lambda: len(partition.test_events) == count, 5, "events")
    assert [e["count"] for e in partition.test_events] == list(range(1, count + 1))


def test_durable_partition_still_batches(started, tmp_path):
    partition = start_single(started, tmp_path, fsync=True)
    outcomes = [
        f.result(timeout=10) for f in [partition.submit({"type": "inc"}) for _ in range(500)]
    ]
    assert outcomes[-1].result["count"] == 500
    assert partition.status()["batches_sent"] < 250


def test_futures_resolve_before_events_are_handed_out(started, tmp_path):
    seen: list[bool] = []
    futures: list[Future] = []

    def on_events(events):
        seen.append(all(f.done() for f in futures))

    settings = PartitionSettings(1, reserve_port().address(), tmp_path / "p1")
    partition = Partition(settings, counter_apply, on_events)
    started.append(partition)
    wait_leader(partition)
    futures.append(partition.submit({"type": "inc"}))
    futures[0].result(timeout=5)
    wait_until(lambda: bool(seen), 5, "events")
    assert seen == [True]


def test_single_replica_commits_without_waiting_for_the_tick_period(started, tmp_path):
    partition = start_single(started, tmp_path)
    latencies = []
    for _ in range(20):
        begin = time.monotonic()
        partition.submit({"type": "inc"}).result(timeout=5)
        latencies.append(time.monotonic() - begin)
    latencies.sort()
    # PySyncObj's idle poll is 50 ms; without the wake-up every commit would take that long.
    assert latencies[len(latencies) // 2] < 0.025


def test_partition_built_in_a_short_lived_thread_keeps_running(started, tmp_path):
    built: list[Partition] = []
    settings = PartitionSettings(1, reserve_port().address(), tmp_path / "p1")
    builder = threading.Thread(target=lambda: built.append(Partition(settings, counter_apply)))
    builder.start()
    builder.join(timeout=10)
    started.extend(built)
    assert not builder.is_alive() and len(built) == 1
    wait_leader(built[0])
    assert built[0].submit({"type": "inc"}).result(timeout=5).result["count"] == 1


def test_failed_and_crashing_commands_change_nothing_and_do_not_stop_the_batch(started, tmp_path):
    partition = start_single(started, tmp_path, batch_max_delay_ms=20.0)
    kinds = ["inc", "bad", "boom", "inc"]
    outcomes = [f.result(timeout=5) for f in [partition.submit({"type": k}) for k in kinds]]
    assert outcomes[0].ok and outcomes[3].ok
    assert isinstance(outcomes[1].error, InvalidState)
    assert type(outcomes[2].error) is ZennodeError and "bug in the engine" in str(outcomes[2].error)
    assert outcomes[3].result["count"] == 2
    assert read_counter(partition) == 2


def test_restart_applies_nothing_twice(started, tmp_path):
    address = reserve_port().address()
    first = start_single(started, tmp_path, address=address)
    for f in [first.submit({"type": "inc", "n": i}) for i in range(500)]:
        f.result(timeout=10)
    digest = first.digest()
    first.stop()

    again = start_single(started, tmp_path, address=address)
    # The journal is replayed from the start; LMDB already holds every entry.
    wait_until(lambda: again.status()["raft_applied_index"] >= again.applied_index(), 5, "")
    assert again.status()["entries_skipped"] > 0
    assert read_counter(again) == 500
    assert again.digest() == digest
    assert again.submit({"type": "inc"}).result(timeout=5).result["count"] == 501


def test_restart_after_compaction_loads_own_snapshot(started, tmp_path):
    address = reserve_port().address()
    first = start_single(started, tmp_path, address=address)
    for f in [first.submit({"type": "inc"}) for _ in range(300)]:
        f.result(timeout=10)
    first.force_compaction()
    wait_until(lambda: (tmp_path / "p1" / "raft.dump").exists(), 5, "dump")
    first.submit({"type": "inc"}).result(timeout=5)
    first.stop()
    again = start_single(started, tmp_path, address=address)
    assert read_counter(again) == 301
    assert again.status()["snapshots_installed"] == 0  # own LMDB is not older than the dump
    assert again.submit({"type": "inc"}).result(timeout=5).result["count"] == 302


def test_full_lmdb_map_grows_and_the_batch_is_retried_whole(started, tmp_path):
    partition = start_single(started, tmp_path, map_size_bytes=256 * 1024)
    blobs = [os.urandom(20_000) for _ in range(60)]  # ~1.2 MB into a 256 KiB map
    outcomes = [
        f.result(timeout=20) for f in [partition.submit({"type": "blob", "blob": b}) for b in blobs]
    ]
    assert [o.result["count"] for o in outcomes] == list(range(1, 61))
    assert partition.store.map_size_bytes > 256 * 1024
    with partition.read() as txn:
        assert [v for _, v in txn.scan("jobs")] == blobs


def test_backpressure_refuses_without_half_applying(started, tmp_path):
    partition = start_single(started, tmp_path, queue_max=20, batch_max_delay_ms=50.0)
    accepted: list[Future] = []
    refused = 0
    for i in range(500):
        try:
            accepted.append(partition.submit({"type": "inc", "n": i}))
        except Backpressure as exc:
            assert exc.partition_id == 1
            refused += 1
    assert refused > 0
    for f in accepted:
        f.result(timeout=10)
    assert read_counter(partition) == len(accepted)


def test_too_large_command_is_refused_before_raft(started, tmp_path):
    partition = start_single(started, tmp_path, command_max_bytes=64 * 1024)
    with pytest.raises(TooLarge):
        partition.submit({"type": "blob", "blob": b"x" * 70_000})
    assert read_counter(partition) == 0


def test_pysyncobj_is_the_pinned_version():
    # The partition relies on 0.3.17 internals: raftLastApplied + 1 is the index being
    # applied, the pipe notifier, the tick thread's main-thread check, the raft state.
    assert pysyncobj_version.VERSION == "0.3.17"


def test_overridden_pysyncobj_internals_still_exist(started, tmp_path):
    # `_RaftGroup` and its `QuorumGuards` mixin (pre-vote, ReadIndex) replace private methods
    # of SyncObj and read its private state; after an upgrade that renamed them the overrides
    # would silently never run (the transport binds SyncObj's own names) or fail in the tick.
    from pysyncobj import SyncObj

    from zennode.cluster.journal import DurableRaft
    from zennode.cluster.partition import _RaftGroup
    from zennode.cluster.raft_quorum import QuorumGuards

    for name in ("_SyncObj__onMessageReceived", "_SyncObj__applyLogEntries"):
        assert callable(getattr(SyncObj, name, None)), name
        assert name in _RaftGroup.__dict__, name
    for name in ("_onTick", "_SyncObj__onMessageReceived"):
        assert callable(getattr(SyncObj, name, None)), name
        assert name in QuorumGuards.__dict__, name
    for name in (
        "_SyncObj__connectedToAnyone",
        "_SyncObj__generateRaftTimeout",
        "_SyncObj__getCurrentLogIndex",
        "_SyncObj__getCurrentLogTerm",
    ):
        assert callable(getattr(SyncObj, name, None)), name
    group = start_single(started, tmp_path)._group
    for name in (
        "_SyncObj__raftState",
        "_SyncObj__raftCurrentTerm",
        "_SyncObj__raftCommitIndex",
        "_SyncObj__raftElectionDeadline",
        "_SyncObj__transferInProgress",
        "_SyncObj__otherNodes",
        "_SyncObj__selfNode",
        "_SyncObj__transport",
        "_SyncObj__noopIDx",
        "_SyncObj__lastResponseTime",
    ):
        assert hasattr(group, name), name
    assert group._SyncObj__conf.leaderFallbackTimeout <= 1.3  # check-quorum: an election timeout
    # The durable log's overrides live in the DurableRaft mixin (zennode/cluster/journal.py);
    # tests/cluster/test_journal.py checks the PySyncObj code they rely on in detail.
    for name in ("_SyncObj__sendNextNodeIdx", "_SyncObj__raftLog", "_SyncObj__raftCommitIndex"):
        assert name in DurableRaft.__dict__ and hasattr(_RaftGroup, name), name
    assert callable(getattr(SyncObj, "_SyncObj__sendNextNodeIdx", None))


def test_contract_form_of_the_constructor(started, tmp_path):
    events: list[dict] = []
    settings = PartitionSettings(
        data_dir=str(tmp_path / "p7"), self_address=reserve_port().address(), peers=[]
    )
    partition = Partition(7, settings, apply_fn=counter_apply, on_events=events.extend)
    started.append(partition)
    wait_leader(partition)
    assert partition.partition_id == 7 and partition.status()["partition"] == 7
    assert partition.submit({"type": "inc"}).result(timeout=5).ok
    wait_until(lambda: events == [{"event": "counted", "count": 1}], 5, "events")


def test_pysyncobj_benign_resend_is_not_logged_as_critical(caplog):
    raft_log = logging.getLogger("pysyncobj.syncobj")
    with caplog.at_level(logging.INFO):
        raft_log.critical("truncating already-applied log entries from index %d", 7)
        raft_log.critical("something else entirely")
    assert [r.getMessage() for r in caplog.records] == ["something else entirely"]


def test_settings_refuse_peers_without_secret(tmp_path):
    with pytest.raises(ConfigError):
        PartitionSettings(1, "127.0.0.1:1", tmp_path, peer_addresses=["127.0.0.1:2"])


def test_raft_port_in_use_is_a_config_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(ConfigError):
            Partition(PartitionSettings(1, address, tmp_path / "p"), counter_apply)
    threads = [t.name for t in threading.enumerate() if t.name.startswith("batcher-")]
    assert threads == []


def test_each_election_won_opens_a_new_leader_epoch(started, tmp_path):
    """The node's role watcher compares epochs: a replica that loses leadership and wins it
    back between two of its polls must show a different epoch, not just `is_leader` again."""
    partition = start_single(started, tmp_path)
    # Its tick thread sets the epoch just after the state that `is_leader` reads.
    wait_until(lambda: partition.leader_epoch == 1, 5, "the first leader epoch")
    # What the tick thread reports when leadership is lost and the next election won (a lone
    # replica stays leader, so nothing else calls this meanwhile).
    partition._on_state_changed(2, 0)  # leader -> follower
    assert partition.leader_epoch is None
    partition._on_state_changed(0, 1)  # follower -> candidate: still not leading
    partition._on_state_changed(1, 2)  # candidate -> leader: a new term
    assert partition.leader_epoch == 2
    partition.stop()
    assert partition.leader_epoch is None  # a stopped replica leads nothing


def test_raft_port_binds_only_the_configured_host(started, tmp_path):
    partition = start_single(started, tmp_path)
    port = partition.status()["raft_port"]
    with socket.socket() as probe:
        # The same port on another local address is free: nothing listens on 0.0.0.0.
        probe.bind(("127.0.0.2", port))


def test_raw_pickles_sent_to_the_raft_port_are_not_executed(started, tmp_path):
    """A single replica still gets a (random) secret, so the port never unpickles input."""
    marker = tmp_path / "pwned"
    partition = start_single(started, tmp_path)
    host, port = partition.settings.self_address.rsplit(":", 1)

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    data = zlib.compress(pickle.dumps(Exploit(), protocol=2))
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(struct.pack("i", len(data)) + data)
        time.sleep(0.3)
    assert not marker.exists()
    assert partition.is_leader


# Three replicas of one partition in this process (three Raft ports).

SECRET = "test-secret"


class Group:
    """Three replica slots of partition 1; any may be started, stopped or left out."""

    def __init__(self, tmp_path, started: list[Partition], **overrides) -> None:
        self.addresses = [reserve_port().address() for _ in range(3)]
        self.tmp_path = tmp_path
        self.started = started
        self.overrides = overrides
        self.replicas: dict[int, Partition] = {}
        self.roles: list[tuple[int, bool]] = []  # (slot, is_leader) as on_role_change said

    def start(self, i: int) -> Partition:
        settings = PartitionSettings(
            partition_id=1,
            self_address=self.addresses[i],
            data_dir=self.tmp_path / f"replica{i}",
            peer_addresses=[a for j, a in enumerate(self.addresses) if j != i],
            secret=SECRET,
            **self.overrides,
        )
        partition = Partition(
            settings, counter_apply, on_role_change=lambda leads: self.roles.append((i, leads))
        )
        self.started.append(partition)
        self.replicas[i] = partition
        return partition

    def leader(self, timeout_s: float = 10.0) -> Partition:
        found: list[Partition] = []

        def one_leader() -> bool:
            found[:] = [p for p in self.replicas.values() if p.is_leader]
            return len(found) == 1

        wait_until(one_leader, timeout_s, "a single leader")
        return found[0]

    def run(self, commands: list[dict], timeout_s: float = 30.0) -> list[Outcome]:
        """Submit like a client of the node: retry only what was certainly not committed
        (a loaded CI machine may see a spurious election); answers in command order."""
        results: list[Outcome | None] = [None] * len(commands)
        todo = list(range(len(commands)))
        deadline = time.monotonic() + timeout_s
        while todo:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{len(todo)} commands not committed in {timeout_s} s"
            leader = self.leader(timeout_s=remaining)
            futures: dict[int, Future] = {}
            for i in todo:
                try:
                    futures[i] = leader.submit(commands[i])
                except NotCommitted:
                    break
            retry = [i for i in todo if i not in futures]
            for i, future in futures.items():
                try:
                    results[i] = future.result(timeout=max(0.1, deadline - time.monotonic()))
                except NotCommitted:
                    retry.append(i)
            todo = sorted(retry)
        return results  # type: ignore[return-value]

    def followers(self) -> list[Partition]:
        return [p for p in self.replicas.values() if not p.is_leader]

    def wait_converged(self, timeout_s: float = 15.0) -> str:
        def same() -> bool:
            digests = {p.digest() for p in self.replicas.values()}
            indexes = {p.applied_index() for p in self.replicas.values()}
            return len(digests) == 1 and len(indexes) == 1

        wait_until(same, timeout_s, "equal digests on every replica")
        return next(iter(self.replicas.values())).digest()


def test_three_replicas_converge_and_followers_refuse_commands(started, tmp_path):
    group = Group(tmp_path, started)
    for i in range(3):
        group.start(i)
    outcomes = group.run([{"type": "inc", "n": i} for i in range(2000)])
    assert sorted(o.result["count"] for o in outcomes) == list(range(1, 2001))
    group.wait_converged()
    leader = group.leader()
    assert all(read_counter(p) == 2000 for p in group.replicas.values())
    follower = group.followers()[0]
    assert follower.leader_address == leader.settings.self_address
    assert follower.leader_epoch is None and leader.leader_epoch is not None
    with pytest.raises(Unavailable) as info:
        follower.submit({"type": "inc"})
    assert info.value.partition_id == 1
    assert leader.status()["batches_sent"] < 200
    peers = leader.status()["peers"]
    assert sorted(p["address"] for p in peers) == sorted(
        a for a in group.addresses if a != leader.settings.self_address
    )
    wait_until(
        lambda: all(
            p["connected"] and p["match_index"] == leader.status()["commit_index"]
            for p in leader.status()["peers"]
        ),
        5,
        "followers' match index",
    )
    assert all(p["match_index"] is None for p in follower.status()["peers"])


def test_one_megabyte_command_replicates_to_every_replica(started, tmp_path, monkeypatch, caplog):
    # PySyncObj 0.3.17 splits an entry >= appendEntriesBatchSizeBytes into 'transmission'
    # chunks and gets the last chunk wrong; the partition sizes that limit so it never happens.
    chunked: list[str] = []
    original_send = TCPTransport.send

    def recording_send(self, node, message):
        if isinstance(message, dict) and "transmission" in message:
            chunked.append(message["transmission"])
        return original_send(self, node, message)

    monkeypatch.setattr(TCPTransport, "send", recording_send)
    group = Group(tmp_path, started)
    for i in range(3):
        group.start(i)
    blob = os.urandom(1024 * 1024)  # incompressible: the wire really carries 1 MiB
    small = [{"type": "inc"}] * 50
    outcomes = group.run([*small, {"type": "blob", "blob": blob}, *small])
    group.wait_converged()
    key = outcomes[50].result["count"].to_bytes(8, "big")
    for replica in group.replicas.values():
        with replica.read() as txn:
            assert txn.get("jobs", key) == blob
    assert chunked == []
    raft_errors = [r for r in caplog.records if r.name.startswith("pysyncobj")]
    assert [r.getMessage() for r in raft_errors if r.levelno >= logging.ERROR] == []


def test_lagging_replica_catches_up_by_snapshot(started, tmp_path):
    group = Group(tmp_path, started)
    group.start(0)
    group.start(1)  # two of three: a quorum
    group.run([{"type": "inc", "n": i} for i in range(1500)])
    group.wait_converged()  # compact only applied entries, so each log ends at 2 entries
    first_two = list(group.replicas.values())
    for replica in first_two:
        replica.force_compaction()
    wait_until(lambda: all(p.status()["log_entries"] <= 3 for p in first_two), 10, "compaction")

    late = group.start(2)
    wait_until(lambda: late.status()["snapshots_installed"] >= 1, 20, "snapshot install")
    group.wait_converged()
    assert read_counter(late) == 1500
    # The newcomer then follows the log as usual.
    group.run([{"type": "inc"}])
    group.wait_converged()
    assert read_counter(late) == 1501


def test_cut_short_snapshot_is_not_sent_and_a_good_one_installs_later(started, tmp_path):
    group = Group(tmp_path, started)
    group.start(0)
    group.start(1)
    group.run([{"type": "blob", "blob": os.urandom(2000)} for _ in range(300)])
    group.wait_converged()  # compact only applied entries, so each log ends at 2 entries
    first_two = list(group.replicas.values())
    for replica in first_two:
        replica.force_compaction()
    wait_until(lambda: all(p.status()["log_entries"] <= 3 for p in first_two), 10, "compaction")
    # Cut both dumps (whoever leads sends its own) one 64 KiB transfer chunk short, as seen.
    for replica in first_two:
        dump = replica.settings.data_dir / "raft.dump"
        data = dump.read_bytes()
        cut = dump.with_name("cut")
        cut.write_bytes(data[: len(data) - 65536])
        os.replace(cut, dump)

    late = group.start(2)
    # The leader checks the header before sending (zennode.cluster.snapshot_transfer); the
    # newcomer's own checksum check is covered in tests/cluster/test_snapshot_transfer.py.
    wait_until(
        lambda: any(p.status()["snapshot_transfer"]["send_refused"] for p in first_two),
        20,
        "the leader refusing to send its short dump",
    )
    assert late.status()["snapshots_installed"] == 0
    assert read_counter(late) == 0  # nothing half-installed
    assert late.status()["role"] in ("follower", "candidate")

    # A fresh compaction replaces the bad dumps; the newcomer installs a good one.
    group.run([{"type": "inc"}])
    for replica in first_two:
        replica.force_compaction()
    wait_until(lambda: late.status()["snapshots_installed"] >= 1, 20, "snapshot install")
    group.wait_converged()
    assert read_counter(late) == 301


def test_leader_stop_new_leader_and_rejoin_by_log(started, tmp_path):
    group = Group(tmp_path, started)
    for i in range(3):
        group.start(i)
    group.run([{"type": "inc"}] * 500)
    first = group.leader()
    slot = next(i for i, p in group.replicas.items() if p is first)
    first.stop()
    del group.replicas[slot]

    second = group.leader(timeout_s=10)
    assert second is not first
    second_slot = next(i for i, p in group.replicas.items() if p is second)
    assert (slot, True) in group.roles and (slot, False) in group.roles  # stop ends leadership
    assert group.roles[-1] == (second_slot, True)
    group.run([{"type": "inc"}] * 300)
    with pytest.raises(Unavailable):
        first.submit({"type": "inc"})  # a stopped replica refuses at once

    back = group.start(slot)
    group.wait_converged()
    assert read_counter(back) == 800
    assert back.status()["entries_skipped"] > 0  # its journal replay found LMDB ahead


def test_whole_group_stop_and_start_keeps_state(started, tmp_path):
    group = Group(tmp_path, started)
    for i in range(3):
        group.start(i)
    group.run([{"type": "inc"}] * 400)
    digest = group.wait_converged()
    for replica in list(group.replicas.values()):
        replica.stop()
    group.replicas.clear()

    for i in range(3):
        group.start(i)
    assert group.wait_converged() == digest
    assert group.run([{"type": "inc"}])[0].result["count"] == 401
    group.wait_converged()


def test_slow_snapshot_install_does_not_depose_the_leader(started, tmp_path, monkeypatch):
    group = Group(tmp_path, started)
    group.start(0)
    group.start(1)
    group.run([{"type": "inc"} for _ in range(300)])
    group.wait_converged()
    first_two = list(group.replicas.values())
    for replica in first_two:
        replica.force_compaction()
    wait_until(lambda: all(p.status()["log_entries"] <= 3 for p in first_two), 10, "compaction")
    leader = group.leader()
    term = leader.status()["term"]

    real = SnapshotCodec.deserialize

    def slow(self, file_name):
        time.sleep(1.6)  # longer than raft_max_timeout_s (1.3 s): a big env on a slow disk
        return real(self, file_name)

    monkeypatch.setattr(SnapshotCodec, "deserialize", slow)
    late = group.start(2)
    wait_until(lambda: late.status()["snapshots_installed"] >= 1, 20, "snapshot install")
    group.wait_converged()
    time.sleep(1.0)  # past the follower's next election deadline
    assert leader.is_leader and leader.status()["term"] == term
    assert late.status()["term"] == term


def test_pipelined_acks_never_make_the_leader_send_an_entry_twice(started, tmp_path, monkeypatch):
    """Stock PySyncObj 0.3.17 moves a follower's next index back on every late ack, so with
    several AppendEntries in flight it sends the same entries again (and the follower
    truncates and rewrites them). `_RaftGroup` only lets a success ack advance it."""
    sent: dict[tuple[int, str], list[int]] = {}
    recording = threading.Event()
    original_send = TCPTransport.send

    def recording_send(self, node, message):
        if recording.is_set() and isinstance(message, dict):
            if message.get("type") == "append_entries" and message.get("entries"):
                key = (id(self), getattr(node, "address", str(node)))
                sent.setdefault(key, []).extend(entry[1] for entry in message["entries"])
        return original_send(self, node, message)

    monkeypatch.setattr(TCPTransport, "send", recording_send)
    group = Group(tmp_path, started, batch_max_items=5, batch_max_delay_ms=0.5)
    for i in range(3):
        group.start(i)
    group.run([{"type": "inc"}])  # a leader, and every follower's next index learned
    recording.set()
    outcomes = group.run([{"type": "inc", "n": i} for i in range(3000)])
    recording.clear()
    assert sorted(o.result["count"] for o in outcomes) == list(range(2, 3002))
    group.wait_converged()
    leader = group.leader()
    assert leader.status()["batches_sent"] > 300  # small batches: many entries in flight
    assert sent, "no AppendEntries recorded"
    for (_transport, follower), indexes in sent.items():
        repeated = len(indexes) - len(set(indexes))
        assert repeated == 0, f"{repeated} entries sent twice to {follower}"


def test_leader_sends_no_commit_only_round_after_each_batch(started, tmp_path, monkeypatch):
    """Stock PySyncObj (eager mode) follows every applied batch with an empty AppendEntries to
    each follower just to carry the commit index; `_RaftGroup` leaves that to the next batch
    or the periodic heartbeat, and the followers still catch up."""
    empty_sends: list[float] = []
    recording = threading.Event()
    original_send = TCPTransport.send

    def recording_send(self, node, message):
        if recording.is_set() and isinstance(message, dict):
            if message.get("type") == "append_entries" and not message.get("entries"):
                if "prevLogIdx" in message:  # not a snapshot chunk
                    empty_sends.append(time.monotonic())
        return original_send(self, node, message)

    monkeypatch.setattr(TCPTransport, "send", recording_send)
    group = Group(tmp_path, started)
    for i in range(3):
        group.start(i)
    group.run([{"type": "inc"}])
    leader = group.leader()
    recording.set()
    began = time.monotonic()
    for i in range(150):  # one command per batch: stock sends 2 empty rounds per command
        leader.submit({"type": "inc", "n": i}).result(timeout=10)
    elapsed = time.monotonic() - began
    recording.clear()
    period = leader.settings.append_entries_period_s
    heartbeats_allowed = 2 * (elapsed / period + 2)  # two followers, periodic heartbeats only
    assert len(empty_sends) <= heartbeats_allowed < 2 * 150
    group.wait_converged(timeout_s=5)
    assert all(read_counter(p) == 151 for p in group.replicas.values())


def test_a_violated_invariant_halts_the_replica_loudly(started, tmp_path, caplog) -> None:
    """An AssertionError in apply is not a refused command: the replica stops applying (it
    leaves Raft, fails what waits, refuses new commands, says why in its status)."""
    partition = start_single(started, tmp_path)
    assert partition.submit({"type": "inc", "n": 1}).result(timeout=5).ok
    with caplog.at_level(logging.CRITICAL, logger="zennode.cluster.partition"):
        broken = partition.submit({"type": "broken"})
        with pytest.raises(Unavailable) as waited:
            broken.result(timeout=10)
    assert "halted" in str(waited.value) and "invariant" in str(waited.value)
    assert any("invariant" in r.getMessage() for r in caplog.records if r.levelname == "CRITICAL")
    wait_until(lambda: not partition.status()["tick_thread_alive"], 10, "the tick thread ends")
    status = partition.status()
    assert "an engine invariant does not hold" in status["halted"]
    assert not partition.is_leader and partition.leader_address is None
    assert read_counter(partition) == 1  # the broken command's batch changed nothing
    with pytest.raises(NotCommitted, match="halted"):
        partition.submit({"type": "inc", "n": 2})
