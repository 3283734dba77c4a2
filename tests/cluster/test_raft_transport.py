"""The sealed Raft transport (zennode/cluster/raft_transport.py): the frame codec alone, then a
raw socket against a real partition's Raft port playing a peer with or without the secret.

A peer that does not hold the secret, or that tampers with, replays or reflects a frame, is
dropped before anything it sent is unpickled; the control (the right secret, honest frames)
keeps its connection and receives the leader's Raft messages, so the refusals can fail.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections.abc import Iterator

import pytest
from support.ports import reserve_port

from zennode.cluster.partition import Partition, PartitionSettings
from zennode.cluster.raft_transport import (
    _CONFIRM,
    _LENGTH,
    HELLO_BYTES,
    MAGIC,
    FrameCodec,
    FrameRejected,
    cluster_key,
    connection_keys,
    hello,
)
from zennode.engine.outcome import Outcome
from zennode.engine.storage import KVWrite

pytestmark = pytest.mark.timeout(60)

SECRET = "transport-test-secret"
WAIT_S = 10.0


def pair(max_frame: int = 1 << 20) -> tuple[FrameCodec, FrameCodec]:
    """The initiator's and the responder's codec of one connection."""
    i_to_r, r_to_i = connection_keys(cluster_key(SECRET), os.urandom(32), os.urandom(32))
    return FrameCodec(i_to_r, r_to_i, max_frame), FrameCodec(r_to_i, i_to_r, max_frame)


def split(frame: bytes) -> tuple[bytes, bytes]:
    return frame[: _LENGTH.size], frame[_LENGTH.size :]


# The codec alone.


def test_frames_open_in_order_on_the_other_side() -> None:
    initiator, responder = pair()
    frames = [initiator.seal(f"message {i}".encode()) for i in range(3)]
    for i, frame in enumerate(frames):
        header, body = split(frame)
        assert responder.frame_length(header) == len(body)
        assert responder.open(header, body) == f"message {i}".encode()
    answer = responder.seal(b"ack")
    assert initiator.open(*split(answer)) == b"ack"
    assert b"message" not in b"".join(frames)  # encrypted, not only signed


@pytest.mark.parametrize("how", ["tampered body", "tampered length", "replayed", "reordered"])
def test_a_frame_that_was_changed_replayed_or_reordered_is_rejected(how: str) -> None:
    initiator, responder = pair()
    first, second = initiator.seal(b"first"), initiator.seal(b"second")
    if how == "tampered body":
        header, body = split(first)
        with pytest.raises(FrameRejected):
            responder.open(header, body[:-1] + bytes([body[-1] ^ 1]))
    elif how == "tampered length":
        header, body = split(first)
        with pytest.raises(FrameRejected):
            responder.open(_LENGTH.pack(len(body) + 1), body)
    elif how == "replayed":
        responder.open(*split(first))
        with pytest.raises(FrameRejected):
            responder.open(*split(first))
    else:
        with pytest.raises(FrameRejected):
            responder.open(*split(second))


def test_a_reflected_frame_or_another_connections_frame_is_rejected() -> None:
    initiator, responder = pair()
    frame = initiator.seal(b"to the responder")
    with pytest.raises(FrameRejected):
        initiator.open(*split(frame))  # sent back to its sender
    other, _ = pair()
    with pytest.raises(FrameRejected):
        responder.open(*split(other.seal(b"from another connection")))


def test_keys_differ_per_direction_connection_and_secret() -> None:
    a, b = os.urandom(32), os.urandom(32)
    i_to_r, r_to_i = connection_keys(cluster_key(SECRET), a, b)
    assert i_to_r != r_to_i
    assert connection_keys(cluster_key(SECRET), a, b) == (i_to_r, r_to_i)
    assert connection_keys(cluster_key(SECRET), b, a)[0] not in (i_to_r, r_to_i)
    assert connection_keys(cluster_key("another secret"), a, b)[0] != i_to_r


def test_out_of_bounds_lengths_are_rejected_before_reading_the_body() -> None:
    _, responder = pair(max_frame=1000)
    for length in (0, 15, 1001, 2**32 - 1):
        with pytest.raises(FrameRejected):
            responder.frame_length(_LENGTH.pack(length))


# A raw socket against a real partition's Raft port.


def noop_apply(txn: KVWrite, command: dict) -> Outcome:
    return Outcome(result=None)


@pytest.fixture
def raft_port(tmp_path) -> Iterator[tuple[str, int]]:
    """A single replica with the test secret, leading; its Raft host and port."""
    settings = PartitionSettings(
        partition_id=1,
        self_address=reserve_port().address(),
        data_dir=tmp_path / "p1",
        secret=SECRET,
    )
    partition = Partition(settings, noop_apply)
    try:
        deadline = time.monotonic() + WAIT_S
        while not partition.is_leader:
            assert time.monotonic() < deadline, "the replica never led"
            time.sleep(0.05)
        host, port = settings.self_address.rsplit(":", 1)
        yield host, int(port)
    finally:
        partition.stop()


class RawPeer:
    """An initiator speaking the sealed protocol by hand, with whatever secret it was given."""

    def __init__(self, address: tuple[str, int], secret: str) -> None:
        self.sock = socket.create_connection(address, timeout=WAIT_S)
        nonce = os.urandom(32)
        self.sock.sendall(hello(nonce))
        server_hello = self.read_exactly(HELLO_BYTES)
        assert server_hello[: len(MAGIC)] == MAGIC
        send_key, recv_key = connection_keys(cluster_key(secret), nonce, server_hello[4:])
        self.codec = FrameCodec(send_key, recv_key, 1 << 24)

    def read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, f"closed after {len(data)} of {n} bytes"
            data += chunk
        return data

    def read_frame(self) -> tuple[bytes, bytes]:
        header = self.read_exactly(_LENGTH.size)
        return header, self.read_exactly(self.codec.frame_length(header))

    def closed_by_peer(self) -> bool:
        """Reads until the node closes the connection (True) or WAIT_S passes (False)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(1 << 16):
                    return True
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


def dropped(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Why the node dropped raw connections, from the transport's warnings."""
    return [
        r.getMessage().rsplit("dropped: ", 1)[1]
        for r in caplog.records
        if r.name == "zennode.cluster.raft_transport" and "dropped: " in r.getMessage()
    ]


@pytest.fixture
def peers() -> Iterator[list[RawPeer]]:
    opened: list[RawPeer] = []
    yield opened
    for peer in opened:
        peer.close()


def test_the_right_secret_gets_a_connection_and_the_leaders_messages(
    raft_port, peers, caplog
) -> None:
    peer = RawPeer(raft_port, SECRET)
    peers.append(peer)
    assert peer.codec.open(*peer.read_frame()) == _CONFIRM
    peer.sock.sendall(peer.codec.seal(_CONFIRM) + peer.codec.seal(pickle.dumps("readonly")))
    for _ in range(2):  # the leader's Raft messages keep coming to the authenticated peer
        message = pickle.loads(peer.codec.open(*peer.read_frame()))
        assert isinstance(message, dict) and "type" in message
    assert dropped(caplog) == []


def test_a_wrong_secret_gets_no_connection(raft_port, peers, caplog) -> None:
    peer = RawPeer(raft_port, "not-the-secret")
    peers.append(peer)
    with pytest.raises(FrameRejected):
        peer.codec.open(*peer.read_frame())  # the node's confirmation: another key
    peer.sock.sendall(peer.codec.seal(_CONFIRM) + peer.codec.seal(pickle.dumps("readonly")))
    assert peer.closed_by_peer()
    assert dropped(caplog) == ["frame failed authentication"]


@pytest.mark.parametrize("how", ["tampered", "replayed", "reflected", "not a hello"])
def test_a_bad_frame_drops_the_connection(raft_port, peers, how: str, tmp_path, caplog) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    if how == "not a hello":
        sock = socket.create_connection(raft_port, timeout=WAIT_S)
        sock.sendall(b"XXXX" + os.urandom(32) + pickle.dumps(Exploit()))
        peer = RawPeer.__new__(RawPeer)
        peer.sock = sock
        peers.append(peer)
        assert peer.closed_by_peer()
        assert not marker.exists()
        assert dropped(caplog) == ["not a zennode raft hello"]
        return
    peer = RawPeer(raft_port, SECRET)
    peers.append(peer)
    node_confirm = peer.read_frame()
    confirm = peer.codec.seal(_CONFIRM)
    if how == "tampered":
        frame = peer.codec.seal(pickle.dumps(Exploit()))
        data = confirm + frame[:-1] + bytes([frame[-1] ^ 1])
    elif how == "replayed":
        data = confirm + confirm
    else:
        data = b"".join(node_confirm)  # the node's own confirmation, sent back
    peer.sock.sendall(data)
    assert peer.closed_by_peer()
    assert not marker.exists()
    # Dropped for the frame, not for idling past the connection timeout.
    assert dropped(caplog) == ["frame failed authentication"]


def test_a_first_message_that_is_not_an_address_drops_the_connection_not_the_tick(
    raft_port, peers, caplog
) -> None:
    """A peer holding the secret whose first message is a Raft message instead of its address
    (what PySyncObj sent when a heartbeat went ahead of the address, see the next test)."""
    peer = RawPeer(raft_port, SECRET)
    peers.append(peer)
    assert peer.codec.open(*peer.read_frame()) == _CONFIRM
    message = {"type": "append_entries", "term": 1}
    peer.sock.sendall(peer.codec.seal(_CONFIRM) + peer.codec.seal(pickle.dumps(message)))
    assert peer.closed_by_peer()
    assert dropped(caplog) == ["first message is not a peer's address"]
    assert not [r for r in caplog.records if r.name.startswith("pysyncobj")]  # no failed tick


class RawResponder:
    """A replica's Raft port played by hand: accepts, says hello only after `hello_delay_s`,
    and returns the first message each connecting replica sends after the handshake."""

    def __init__(self, address: str, hello_delay_s: float) -> None:
        host, port = address.rsplit(":", 1)
        self.server = socket.create_server((host, int(port)))
        self.server.settimeout(WAIT_S)
        self.hello_delay_s = hello_delay_s

    def first_message(self) -> object:
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(WAIT_S)
            time.sleep(self.hello_delay_s)  # the replica's Raft keeps ticking meanwhile
            peer = RawPeer.__new__(RawPeer)
            peer.sock = conn
            replica_hello = peer.read_exactly(HELLO_BYTES)
            nonce = os.urandom(32)
            conn.sendall(hello(nonce))
            recv_key, send_key = connection_keys(cluster_key(SECRET), replica_hello[4:], nonce)
            peer.codec = FrameCodec(send_key, recv_key, 1 << 24)
            assert peer.codec.open(*peer.read_frame()) == _CONFIRM
            conn.sendall(peer.codec.seal(_CONFIRM))
            return pickle.loads(peer.codec.open(*peer.read_frame()))

    def close(self) -> None:
        self.server.close()


def test_a_replica_names_itself_before_any_raft_message_on_a_slow_handshake(tmp_path) -> None:
    """Two replicas of three elect a leader; the third replica's port is played by hand and
    answers the TCP connect's hello late. Meanwhile the leader's heartbeats to it were queued
    on the TCP-connected socket and sent ahead of its address, which the receiving transport
    could not read (fixed: nothing is sent before the handshake is done)."""
    addresses = sorted(reserve_port().address() for _ in range(3))
    # PySyncObj connects from the greater address to the smaller: the hand-played port gets
    # the smallest, so both replicas connect to it.
    raw, *real = addresses
    started: list[Partition] = []
    responder = RawResponder(raw, hello_delay_s=1.0)
    try:
        for i, own in enumerate(real):
            settings = PartitionSettings(
                partition_id=1,
                self_address=own,
                data_dir=tmp_path / f"replica{i}",
                peer_addresses=[a for a in addresses if a != own],
                secret=SECRET,
            )
            started.append(Partition(settings, noop_apply))
        deadline = time.monotonic() + WAIT_S
        while not any(p.is_leader for p in started):
            assert time.monotonic() < deadline, "no leader among the two replicas"
            time.sleep(0.05)
        firsts = [responder.first_message(), responder.first_message()]
        # Each connection's first message after the handshake: the replica's address.
        assert sorted(map(str, firsts)) == sorted(real)
    finally:
        responder.close()
        for partition in started:
            partition.stop()
