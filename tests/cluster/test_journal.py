"""The durable Raft log (zennode/cluster/journal.py): the file format and its recovery, group
commit, and the PySyncObj hooks that make acknowledgements and commits wait for fsync.

The power-loss suite (tests/power/) shows the same on real node processes; these tests pin
the mechanism: a follower does not acknowledge, and a leader does not count its own copy,
before the entries are synced.
"""

from __future__ import annotations

import inspect
import os
import struct
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import test_partition
from pysyncobj import SyncObj
from pysyncobj.journal import FileJournal
from test_partition import Group, read_counter, start_single, wait_until

from zennode.cluster import journal as journal_module
from zennode.cluster.journal import LOG_FILE, META_FILE, DurableRaft, JournalFailed, RaftJournal
from zennode.cluster.partition import _RaftGroup

pytestmark = pytest.mark.timeout(60)
started = test_partition.started  # the fixture that stops every partition a test started


def entries(n: int, term: int = 1, start: int = 1) -> list[tuple[bytes, int, int]]:
    return [(f"command {i}".encode() * 3, i, term) for i in range(start, start + n)]


@pytest.fixture
def opened() -> Any:
    journals: list[RaftJournal] = []

    def open_journal(directory: Path, durable: bool = True) -> RaftJournal:
        journal = RaftJournal(directory, durable=durable)
        journals.append(journal)
        return journal

    yield open_journal
    for journal in journals:
        journal.close()


def test_entries_term_vote_and_commit_index_survive_a_reopen(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(5):
        journal.add(*entry)
    journal.setCurrentTerm(3, "127.0.0.1:7001")
    journal.setRaftCommitIndex(4)
    journal.onOneSecondTimer()
    journal.close()
    again = opened(tmp_path)
    assert [again[i] for i in range(len(again))] == entries(5)
    assert (again.getCurrentTerm(), again.getVotedForNodeId()) == (3, "127.0.0.1:7001")
    assert again.getRaftCommitIndex() == 4


def test_a_torn_tail_is_cut_at_the_last_whole_entry(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(4):
        journal.add(*entry)
    journal.close()
    path = tmp_path / LOG_FILE
    data = path.read_bytes()
    path.write_bytes(data[:-5])  # the last record lost its last bytes
    again = opened(tmp_path)
    assert [again[i][1] for i in range(len(again))] == [1, 2, 3]
    again.add(*entries(1, start=4)[0])  # appends right after entry 3
    again.close()
    assert [e[1] for e in (opened(tmp_path)[i] for i in range(4))] == [1, 2, 3, 4]


def test_a_record_with_a_bad_checksum_ends_the_log(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(4):
        journal.add(*entry)
    journal.close()
    path = tmp_path / LOG_FILE
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a flipped byte in the payload of entry 4
    path.write_bytes(bytes(data))
    assert len(opened(tmp_path)) == 3


def test_a_torn_meta_slot_falls_back_to_the_previous_term_and_vote(tmp_path, opened):
    journal = opened(tmp_path)
    journal.setCurrentTerm(5, "a")
    journal.setCurrentTerm(6, "b")  # the other slot
    journal.close()
    meta = tmp_path / META_FILE
    data = bytearray(meta.read_bytes())
    newest = (
        0 if struct.unpack_from("<Q", data, 0)[0] > struct.unpack_from("<Q", data, 512)[0] else 1
    )
    data[newest * 512 + 20] ^= 0xFF
    meta.write_bytes(bytes(data))
    again = opened(tmp_path)
    assert (again.getCurrentTerm(), again.getVotedForNodeId()) == (5, "a")


def test_resent_identical_entries_are_not_written_again(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(6):
        journal.add(*entry)
    size = (tmp_path / LOG_FILE).stat().st_size
    seq = journal.write_seq
    journal.deleteEntriesFrom(3)  # PySyncObj truncates before every re-send
    for entry in entries(3, start=4):
        journal.add(*entry)
    assert journal.write_seq == seq and (tmp_path / LOG_FILE).stat().st_size == size
    assert [journal[i] for i in range(len(journal))] == entries(6)


def test_a_conflicting_entry_cuts_the_old_tail_before_it_is_written(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(6):
        journal.add(*entry)
    journal.deleteEntriesFrom(3)
    journal.add(b"new leader's entry", 4, 2)
    assert [journal[i][1:] for i in range(len(journal))] == [(1, 1), (2, 1), (3, 1), (4, 2)]
    journal.close()
    again = opened(tmp_path)
    assert [again[i][1:] for i in range(len(again))] == [(1, 1), (2, 1), (3, 1), (4, 2)]


def test_a_truncation_never_followed_by_an_entry_is_applied_on_close(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(5):
        journal.add(*entry)
    journal.deleteEntriesFrom(2)
    journal.close()
    assert len(opened(tmp_path)) == 2


def test_compaction_and_clear_rewrite_the_file(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(10):
        journal.add(*entry)
    journal.deleteEntriesTo(7)
    assert [journal[i][1] for i in range(len(journal))] == [8, 9, 10]
    journal.add(*entries(1, start=11)[0])
    journal.close()
    again = opened(tmp_path)
    assert [again[i][1] for i in range(len(again))] == [8, 9, 10, 11]
    again.clear()
    again.add(*entries(1, start=20)[0])
    again.close()
    assert [e[1] for e in (opened(tmp_path)[0],)] == [20]
    assert not (tmp_path / (LOG_FILE + ".new")).exists()


def test_group_commit_one_fsync_covers_many_entries(tmp_path, opened):
    journal = opened(tmp_path)
    for entry in entries(500):
        journal.add(*entry)
    wait_until(lambda: journal.durable_index() == 500, 10, "entries synced")
    assert 1 <= journal.fsyncs < 500
    assert journal.latency_percentiles_ms()[0] is not None


def test_durable_index_follows_the_syncer(tmp_path, opened, monkeypatch):
    gate = threading.Event()
    real = os.fdatasync

    class GatedOs:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def fdatasync(fd: int) -> None:
            if threading.current_thread().name.endswith("-fsync"):
                gate.wait(10)
            real(fd)

    monkeypatch.setattr(journal_module, "os", GatedOs())
    journal = opened(tmp_path)
    journal.add(*entries(1)[0])
    time.sleep(0.2)
    assert journal.durable_index() == 0 and not journal.is_synced(journal.write_seq)
    gate.set()
    wait_until(lambda: journal.durable_index() == 1, 5, "the entry synced")


class FailingOs:
    """`os` for the journal module whose fdatasync (or pwritev) fails like a full disk."""

    def __init__(self, fail_sync: bool = False, short_write: bool = False) -> None:
        self.fail_sync, self.short_write = fail_sync, short_write
        self.syncs = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fdatasync(self, fd: int) -> None:
        if self.fail_sync and threading.current_thread().name.endswith("-fsync"):
            self.syncs += 1
            raise OSError(28, "No space left on device")
        os.fdatasync(fd)

    def pwritev(self, fd: int, buffers: list[bytes], offset: int) -> int:
        if self.short_write:
            return os.pwrite(fd, buffers[0][:5], offset)  # the disk filled up mid-record
        return os.pwritev(fd, buffers, offset)


def test_a_failed_fsync_is_never_retried_and_nothing_more_counts_as_durable(
    tmp_path, opened, monkeypatch
):
    failing = FailingOs(fail_sync=True)
    monkeypatch.setattr(journal_module, "os", failing)
    journal = opened(tmp_path)
    journal.add(*entries(1)[0])
    wait_until(lambda: journal.failed is not None, 5, "the journal to fail")
    time.sleep(0.3)
    # A retried fsync may report success for pages the kernel already dropped: never again.
    assert failing.syncs == 1
    assert journal.durable_index() == 0 and not journal.is_synced(journal.write_seq)
    assert "No space left" in journal.failed
    with pytest.raises(JournalFailed):
        journal.add(*entries(1, start=2)[0])
    with pytest.raises(JournalFailed):
        journal.setCurrentTerm(5, "peer")  # no vote without the term on disk


def test_a_short_write_fails_the_journal_instead_of_leaving_a_hole(tmp_path, opened, monkeypatch):
    journal = opened(tmp_path)
    journal.add(*entries(1)[0])
    monkeypatch.setattr(journal_module, "os", FailingOs(short_write=True))
    with pytest.raises(JournalFailed, match="5 of"):
        journal.add(*entries(1, start=2)[0])
    assert len(journal) == 1 and journal.failed is not None


def test_unsynced_mode_never_syncs_and_never_waits(tmp_path, opened):
    journal = opened(tmp_path, durable=False)
    for entry in entries(3):
        journal.add(*entry)
    assert journal.durable_index() == 3 and journal.is_synced(journal.write_seq)
    assert journal.fsyncs == 0


def test_a_stock_pysyncobj_journal_is_imported(tmp_path, opened):
    stock = FileJournal(str(tmp_path / "raft.journal"))
    for entry in entries(4):
        stock.add(*entry)
    stock.setCurrentTerm(2, "127.0.0.1:7002")
    stock._destroy()
    journal = opened(tmp_path)
    assert [journal[i] for i in range(len(journal))] == entries(4)
    assert (journal.getCurrentTerm(), journal.getVotedForNodeId()) == (2, "127.0.0.1:7002")
    assert (tmp_path / "raft.journal.imported").exists()


# The PySyncObj hooks.


def test_overridden_durability_internals_still_exist():
    # DurableRaft replaces SyncObj's journal, its ack sender and its commit index; after an
    # upgrade that renamed them the overrides would silently do nothing.
    for name in ("_SyncObj__sendNextNodeIdx", "_SyncObj__getEntries"):
        assert callable(getattr(SyncObj, name, None)), name
    for name in ("_SyncObj__raftLog", "_SyncObj__raftCommitIndex", "_SyncObj__sendNextNodeIdx"):
        assert name in DurableRaft.__dict__, name
        assert hasattr(_RaftGroup, name), name
    init = inspect.getsource(SyncObj.__init__)
    assert "self.__raftLog = createJournal(self.__conf.journalFile)" in init
    assert "self.__raftCommitIndex = self.__raftLog.getRaftCommitIndex()" in init
    tick = inspect.getsource(SyncObj._onTick)
    assert "self.__raftCommitIndex = nextCommitIdx" in tick
    assert "count = 1" in tick  # the leader's own copy, which DurableRaft discounts
    received = inspect.getsource(SyncObj._SyncObj__onMessageReceived)
    assert "self.__sendNextNodeIdx(node, nextNodeIdx=nextNodeIdx, success=True)" in received
    vote = "self.__setCurrentTerm(self.__raftCurrentTerm, node.id)"
    assert received.index(vote) < received.index("'type': 'response_vote'")


def wait_for_followers(leader: Any) -> None:
    """Until every follower acknowledged the whole log (no earlier ack still on its way)."""
    end = leader.journal[-1][1]
    wait_until(lambda: all(p["match_index"] == end for p in leader.status()["peers"]), 5, "acks")


class _GatedSyncs:
    """`os` for the journal module whose fdatasync blocks on the syncer threads of the
    replicas named in `blocked` (by Raft address) until they are released."""

    def __init__(self) -> None:
        self.blocked: set[str] = set()
        self.released = threading.Condition()

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fdatasync(self, fd: int) -> None:
        thread = threading.current_thread().name
        with self.released:
            while any(thread.endswith(f"@{a}-fsync") for a in self.blocked):
                self.released.wait(0.05)
        os.fdatasync(fd)

    def release(self, address: str) -> None:
        with self.released:
            self.blocked.discard(address)
            self.released.notify_all()


def test_a_commit_needs_a_majority_of_synced_copies_the_leaders_own_included(
    started, tmp_path, monkeypatch
):
    group = Group(tmp_path, started)
    for i in range(3):
        group.start(i)
    group.run([{"type": "inc"}])  # elected, terms and votes on disk
    leader = group.leader()
    wait_for_followers(leader)
    slow, fast = group.followers()
    gated = _GatedSyncs()
    monkeypatch.setattr(journal_module, "os", gated)
    gated.blocked = {leader.settings.self_address, slow.settings.self_address}

    future: Future = leader.submit({"type": "inc"})
    # The fast follower syncs and acknowledges; with only its copy on disk (the leader's and
    # the slow follower's are not), one of three is no majority: nothing may commit.
    wait_until(lambda: fast.journal.durable_index() == leader.journal[-1][1], 5, "fast sync")
    time.sleep(0.5)
    assert not future.done()
    assert leader.status()["commit_index"] < leader.journal[-1][1]
    gated.release(leader.settings.self_address)  # leader's copy + the fast follower's: 2 of 3
    assert future.result(timeout=5).result["count"] == 2
    gated.release(slow.settings.self_address)
    group.wait_converged()


def test_a_follower_acknowledges_only_synced_entries(started, tmp_path, monkeypatch):
    group = Group(tmp_path, started)
    for i in range(3):
        group.start(i)
    group.run([{"type": "inc"}])
    leader = group.leader()
    wait_for_followers(leader)
    gated = _GatedSyncs()
    monkeypatch.setattr(journal_module, "os", gated)
    gated.blocked = {f.settings.self_address for f in group.followers()}
    before = {p["address"]: p["match_index"] for p in leader.status()["peers"]}
    future: Future = leader.submit({"type": "inc"})
    wait_until(lambda: leader.journal.durable_index() == leader.journal[-1][1], 5, "leader sync")
    time.sleep(0.5)
    # Both followers hold the entry in their page cache but have not synced it: no ack.
    assert {p["address"]: p["match_index"] for p in leader.status()["peers"]} == before
    assert not future.done()
    for follower in group.followers():
        gated.release(follower.settings.self_address)
    assert future.result(timeout=5).ok
    group.wait_converged()


def test_sequential_acknowledged_commands_each_wait_for_an_fsync(started, tmp_path):
    partition = start_single(started, tmp_path)
    before = partition.journal.fsyncs
    for _ in range(50):
        partition.submit({"type": "inc"}).result(timeout=5)
    assert partition.journal.fsyncs - before >= 50
    assert partition.status()["fsync"] is True
    assert read_counter(partition) == 50
