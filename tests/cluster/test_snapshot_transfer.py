"""The chunk/resume protocol of zennode.cluster.snapshot_transfer, without Raft.

A `Link` moves the leader's chunks and the follower's acks between a `Sender` and a
`Receiver` the way PySyncObj's tick loop does (a chunk per call while the window allows, acks
as messages back). Cutting the link drops what is in flight and cancels the transmission, as
PySyncObj does when a connection drops; the follower must then go on from the bytes it holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from support.waits import wait_until

from zennode.cluster.snapshot_transfer import Receiver, Sender
from zennode.state.lmdb_store import LmdbStore
from zennode.state.snapshot import SnapshotCodec, verify_snapshot

CHUNK = 64 * 1024
WINDOW = 4 * CHUNK
NODE = "follower-1"


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A real snapshot of ~1.5 MB (about 24 chunks)."""
    store = LmdbStore(tmp_path / "leader" / "lmdb", map_size_bytes=64 << 20)
    with store.write() as txn:
        for i in range(6000):
            txn.put("jobs", i.to_bytes(8, "big"), os.urandom(200))
        txn.set_applied_index(77)
    dump = tmp_path / "leader" / "raft.dump"
    SnapshotCodec(store, dump, background=False).serialize(str(dump), ("raft", 1))
    store.close()
    return dump


class Link:
    """Leader and follower joined by two message queues that can be cut."""

    def __init__(self, sender: Sender, follower_dump: Path) -> None:
        self.sender = sender
        self.acks: list[dict[str, Any]] = []
        self.chunks: list[Any] = []
        self.follower_dump = follower_dump
        self.receiver = self.new_receiver()
        self.installed = False
        self.most_unacked = 0  # the most chunk bytes sent in one round beyond the last ack

    def new_receiver(self) -> Receiver:
        return Receiver(str(self.follower_dump), lambda ack: self.acks.append(ack))

    def leader_tick(self) -> None:
        """What PySyncObj's __sendAppendEntries does for one follower in one round."""
        self.sender.begin_round()
        while True:
            data = self.sender.next_chunk(NODE)
            self.chunks.append(data)
            sent = sum(len(c[0][4]) for c in self.chunks if c is not None)
            self.most_unacked = max(self.most_unacked, sent)
            if data is None or data[2] or data[0][2] == -1:
                return

    def deliver(self, chunks: int | None = None) -> None:
        """The follower receives the first `chunks` messages (all: None); acks go back."""
        todo = self.chunks if chunks is None else self.chunks[:chunks]
        self.chunks = self.chunks[len(todo) :]
        for data in todo:
            if self.receiver.on_chunk(data):
                self.installed = True
        self.receiver.flush()  # the tick callback: acks of the checksum thread
        acks, self.acks = self.acks, []
        for ack in acks:
            self.sender.on_ack(NODE, ack)

    def cut(self) -> None:
        self.chunks.clear()
        self.acks.clear()
        self.sender.cancel(NODE)

    def run(self) -> None:
        """Rounds until the follower installs (its checksum thread acks in between)."""

        def round_done() -> bool:
            self.leader_tick()
            self.deliver()
            return self.installed

        wait_until(round_done, 10.0, "the transfer to finish", interval_s=0.001)


def _follower_dump(tmp_path: Path) -> Path:
    (tmp_path / "follower").mkdir(exist_ok=True)
    return tmp_path / "follower" / "raft.dump"


def _started(tmp_path: Path, snapshot: Path, ticks: int) -> tuple[Sender, Link]:
    """A transfer to a fresh follower after `ticks` leader ticks, each delivered and acked
    (the first is the probe)."""
    sender = Sender(str(snapshot), CHUNK, WINDOW, WINDOW)
    link = Link(sender, _follower_dump(tmp_path))
    for _ in range(ticks):
        link.leader_tick()
        link.deliver()
    return sender, link


def test_transfer_in_chunks_installs_an_identical_file(tmp_path: Path, snapshot: Path) -> None:
    sender = Sender(str(snapshot), CHUNK, WINDOW, WINDOW)
    link = Link(sender, _follower_dump(tmp_path))
    link.run()
    assert link.most_unacked <= WINDOW  # never more than a window beyond the last ack
    assert link.follower_dump.read_bytes() == snapshot.read_bytes()
    assert verify_snapshot(link.follower_dump)[1] == 77
    assert sender.bytes_sent == snapshot.stat().st_size
    assert sender.completed == 1 and sender.resumed == 0


def test_cut_connection_resumes_from_the_last_chunk_held(tmp_path: Path, snapshot: Path) -> None:
    total = snapshot.stat().st_size
    sender = Sender(str(snapshot), CHUNK, WINDOW, WINDOW)
    link = Link(sender, _follower_dump(tmp_path))
    link.leader_tick()  # probe
    link.deliver()
    for _ in range(3):  # three windows arrive and are acked
        link.leader_tick()
        link.deliver()
    link.leader_tick()
    link.deliver(chunks=2)  # two chunks of the next window arrive, then the link breaks
    held = link.receiver.stats()["partial_bytes"]
    assert held == 3 * WINDOW + 2 * CHUNK
    link.cut()
    sent_before = sender.bytes_sent

    link.run()
    assert sender.resumed == 1
    # After the cut only what the follower lacked was sent again.
    assert sender.bytes_sent - sent_before == total - held
    assert link.receiver.stats()["resumed"] == 1
    assert link.follower_dump.read_bytes() == snapshot.read_bytes()


def test_follower_restart_resumes_from_its_partial_file(tmp_path: Path, snapshot: Path) -> None:
    total = snapshot.stat().st_size
    sender, link = _started(tmp_path, snapshot, ticks=2)
    held = link.receiver.stats()["partial_bytes"]
    assert 0 < held < total
    link.cut()
    link.receiver = link.new_receiver()  # a new process finds the partial on disk
    sent_before = sender.bytes_sent
    link.run()
    assert sender.bytes_sent - sent_before == total - held
    assert link.follower_dump.read_bytes() == snapshot.read_bytes()


def test_corrupt_partial_is_discarded_and_sent_again(tmp_path: Path, snapshot: Path) -> None:
    total = snapshot.stat().st_size
    sender, link = _started(tmp_path, snapshot, ticks=2)
    link.cut()
    partial = Path(str(link.follower_dump) + ".partial")
    with open(partial, "r+b") as f:  # a byte on disk went bad after it was received
        f.seek(total // 20 + 100)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    link.receiver = link.new_receiver()
    link.run()
    assert link.receiver.stats()["restarted"] == 1  # the checksum failed: started over
    assert link.follower_dump.read_bytes() == snapshot.read_bytes()


def test_a_newer_snapshot_replaces_a_partial_of_an_older_one(
    tmp_path: Path, snapshot: Path
) -> None:
    link = Link(Sender(str(snapshot), CHUNK, WINDOW, WINDOW), _follower_dump(tmp_path))
    link.leader_tick()
    link.deliver()
    link.leader_tick()
    link.deliver()
    link.cut()
    store = LmdbStore(tmp_path / "leader2" / "lmdb", map_size_bytes=64 << 20)
    with store.write() as txn:
        txn.put("jobs", b"k", b"v")
        txn.set_applied_index(90)
    newer = tmp_path / "leader2" / "raft.dump"
    SnapshotCodec(store, newer, background=False).serialize(str(newer), ("raft", 2))
    store.close()
    link.sender = Sender(str(newer), CHUNK, WINDOW, WINDOW)
    link.run()
    assert link.receiver.stats()["restarted"] == 1
    assert link.follower_dump.read_bytes() == newer.read_bytes()
    assert verify_snapshot(link.follower_dump)[1] == 90


def test_one_round_sends_at_most_its_budget(tmp_path: Path, snapshot: Path) -> None:
    """Each chunk costs the leader's tick thread; a round stops at `round_bytes` even when
    the window would allow more, and an ack asks for the next round at once."""
    sender = Sender(str(snapshot), CHUNK, WINDOW, round_bytes=2 * CHUNK)
    link = Link(sender, _follower_dump(tmp_path))
    link.leader_tick()
    link.deliver()  # the probe is answered
    link.leader_tick()
    assert [len(c[0][4]) for c in link.chunks if c is not None] == [CHUNK, CHUNK]
    link.receiver.on_chunk(link.chunks[0])
    link.receiver.flush()
    [ack] = link.acks
    assert sender.on_ack(NODE, ack) is True  # more may be sent: start a round early
