"""The Raft port's wire: one length-prefixed frame and one AEAD seal per message.

PySyncObj's own encryption (`password`) costs, per message and side, a pickle, a zlib
stream, a Fernet token (AES-CBC + HMAC, base64) and a second HMAC pass to read the token's
timestamp; together with the rest that is ~150 us per Raft message (docs/benchmarks.md).
This transport replaces it with:

- a hello of 36 bytes from each side as soon as the TCP connection is up: `ZNR1` and 32
  random bytes (the connection nonce);
- per-connection, per-direction keys: HKDF-SHA256 of the cluster key (PBKDF2 of the cluster
  secret, once per process) salted with the initiator's and the responder's nonce;
- frames `length u32 | ChaCha20-Poly1305(pickle(message))`, the nonce an implicit 64-bit
  counter per direction (never sent), the length prefix as associated data;
- a first sealed frame that proves the peer holds the secret: only then does PySyncObj see
  the outgoing connection as connected, and nothing is unpickled before its frame's tag
  checked. Any bad hello, oversized length, failed tag or unreadable pickle drops the
  connection.

The nonce scheme and threat model are in docs/security.md. PySyncObj (pinned 0.3.17) has no
hook for its connection class, so `SealedConnection` overrides the name-mangled read parser
of `TcpConnection`, and the server and transport subclasses repeat the few lines that build
connections (`_TcpServer__onNewConnection`, `TCPTransport.addNode`).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pysyncobj.dns_resolver import globalDnsResolver
from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import CONNECTION_STATE, TcpConnection
from pysyncobj.tcp_server import TcpServer
from pysyncobj.transport import TCPTransport

log = logging.getLogger(__name__)

MAGIC = b"ZNR1"
NONCE_BYTES = 32
HELLO_BYTES = len(MAGIC) + NONCE_BYTES  # 36
_LENGTH = struct.Struct(">I")
_TAG_BYTES = 16
_COUNTER_LIMIT = 1 << 64  # a direction's counter never wraps: the connection drops first
_CONFIRM = b"zennode raft: peer holds the cluster secret"
_KDF_INFO = b"zennode raft transport v1"
_MASTER_SALT = b"zennode raft cluster key v1"
_MASTER_ITERATIONS = 100_000  # as PySyncObj's: a weak secret still costs an attacker per guess
_PICKLE = pickle.HIGHEST_PROTOCOL


class FrameRejected(Exception):
    """A frame that failed authentication or decoding: the connection must be dropped."""


@functools.lru_cache(maxsize=8)
def cluster_key(secret: str) -> bytes:
    """The 32-byte key every replica derives from the cluster secret (cached: each
    partition's transport asks for it, the derivation is deliberately slow)."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), _MASTER_SALT, _MASTER_ITERATIONS)


def connection_keys(
    key: bytes, initiator_nonce: bytes, responder_nonce: bytes
) -> tuple[bytes, bytes]:
    """(initiator -> responder key, responder -> initiator key) of one connection."""
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=initiator_nonce + responder_nonce,
        info=_KDF_INFO,
    ).derive(key)
    return okm[:32], okm[32:]


class FrameCodec:
    """Seals and opens the frames of one connection; each direction counts its frames.

    The 12-byte AEAD nonce is 4 zero bytes and the direction's 64-bit frame counter, so a
    key never sees a nonce twice; a replayed, reordered, dropped or reflected frame is opened
    with the wrong counter or the wrong key and fails its tag.
    """

    def __init__(self, send_key: bytes, recv_key: bytes, max_frame_bytes: int) -> None:
        self._seal = ChaCha20Poly1305(send_key)
        self._open = ChaCha20Poly1305(recv_key)
        self._sent = 0
        self._received = 0
        self.max_frame_bytes = max_frame_bytes

    def seal(self, payload: bytes) -> bytes:
        if self._sent >= _COUNTER_LIMIT:
            raise FrameRejected("send counter exhausted")
        header = _LENGTH.pack(len(payload) + _TAG_BYTES)
        sealed = self._seal.encrypt(_nonce(self._sent), payload, header)
        self._sent += 1
        return header + sealed

    def frame_length(self, header: bytes) -> int:
        """The body length a 4-byte header announces; FrameRejected when out of bounds."""
        (length,) = _LENGTH.unpack(header)
        if length < _TAG_BYTES or length > self.max_frame_bytes:
            raise FrameRejected(f"frame length {length} out of bounds")
        return length

    def open(self, header: bytes, body: bytes) -> bytes:
        if self._received >= _COUNTER_LIMIT:
            raise FrameRejected("receive counter exhausted")
        try:
            payload = self._open.decrypt(_nonce(self._received), body, header)
        except InvalidTag:
            raise FrameRejected("frame failed authentication") from None
        self._received += 1
        return payload


def _nonce(counter: int) -> bytes:
    return b"\0\0\0\0" + counter.to_bytes(8, "big")


def hello(nonce: bytes) -> bytes:
    return MAGIC + nonce


class SealedConnection(TcpConnection):  # type: ignore[misc]  # untyped PySyncObj
    """A PySyncObj TCP connection that speaks the sealed frame protocol.

    Outgoing connections are reused by PySyncObj across reconnects, so the handshake state
    is reset on every connect and disconnect. The outgoing side reports itself connected to
    PySyncObj only once the peer's first frame proved it holds the secret.
    """

    # TcpConnection's private state that the overrides below use (pinned 0.3.17).
    _TcpConnection__readBuffer: bytes
    _TcpConnection__writeBuffer: bytes
    _TcpConnection__socket: socket.socket | None

    def __init__(self, *args: Any, cluster_key: bytes, max_frame_bytes: int, **kw: Any) -> None:
        self._key = cluster_key
        self._max_frame_bytes = max_frame_bytes
        self._on_authenticated: Callable[[], None] | None = None
        self._reset()
        self._initiator = kw.get("socket") is None
        super().__init__(*args, **kw)
        if not self._initiator:  # accepted: the socket is up, say hello at once
            self._write_raw(hello(self._nonce))

    def _reset(self) -> None:
        self._nonce = os.urandom(NONCE_BYTES)
        self._codec: FrameCodec | None = None
        self._authenticated = False

    # Connecting (PySyncObj calls these).

    def setOnConnectedCallback(self, onConnected: Callable[[], None] | None) -> None:  # noqa: N802,N803
        self._on_authenticated = onConnected
        super().setOnConnectedCallback(self._on_tcp_connected)

    def connect(self, host: str, port: int) -> bool:
        self._reset()
        self._initiator = True
        return bool(super().connect(host, port))

    def disconnect(self) -> None:
        self._reset()
        super().disconnect()

    def _on_tcp_connected(self) -> None:
        self._write_raw(hello(self._nonce))

    # Sending.

    def send(self, message: Any) -> None:
        """Seal and write `message`; before the handshake is done, drop it.

        Why drop: PySyncObj's `TCPTransport.send` lets messages through once the TCP
        connection is up, but the outgoing side's first message must be its address, sent
        when the peer is authenticated (`_onOutgoingConnected`). A heartbeat or pre-vote
        queued in between went ahead of it, and the peer's transport, expecting an address,
        failed its whole tick on the dict. Raft resends what is dropped, as it does for a peer
        that is not connected."""
        if self._codec is None or not self._authenticated:
            return
        self._write_raw(self._codec.seal(pickle.dumps(message, protocol=_PICKLE)))

    def _write_raw(self, data: bytes) -> None:
        self._TcpConnection__writeBuffer += data
        self._TcpConnection__trySendBuffer()

    # Receiving: PySyncObj calls this after each read until it returns None.

    def _TcpConnection__processParseMessage(self) -> Any:  # noqa: N802
        try:
            while True:
                buffer: bytes = self._TcpConnection__readBuffer
                if self._codec is None:
                    if len(buffer) < HELLO_BYTES:
                        return None
                    self._TcpConnection__readBuffer = buffer[HELLO_BYTES:]
                    self._start(buffer[:HELLO_BYTES])
                    continue
                if len(buffer) < _LENGTH.size:
                    return None
                header = buffer[: _LENGTH.size]
                end = _LENGTH.size + self._codec.frame_length(header)
                if len(buffer) < end:
                    return None
                self._TcpConnection__readBuffer = buffer[end:]
                payload = self._codec.open(header, buffer[_LENGTH.size : end])
                if self._authenticated:
                    return _loads(payload)
                if payload != _CONFIRM:
                    raise FrameRejected("first frame is not the confirmation")
                self._authenticated = True
                if self._initiator and self._on_authenticated is not None:
                    self._on_authenticated()
                if self.state == CONNECTION_STATE.DISCONNECTED:
                    return None
        except FrameRejected as exc:
            self._reject(str(exc))
            return None

    def _start(self, peer_hello: bytes) -> None:
        """Keys from both nonces, then the confirmation that we hold the secret."""
        if peer_hello[: len(MAGIC)] != MAGIC:
            raise FrameRejected("not a zennode raft hello")
        peer_nonce = peer_hello[len(MAGIC) :]
        if self._initiator:
            send_key, recv_key = connection_keys(self._key, self._nonce, peer_nonce)
        else:
            recv_key, send_key = connection_keys(self._key, peer_nonce, self._nonce)
        self._codec = FrameCodec(send_key, recv_key, self._max_frame_bytes)
        self._write_raw(self._codec.seal(_CONFIRM))

    def _reject(self, why: str) -> None:
        sock = self._TcpConnection__socket
        try:
            peer = sock.getpeername() if sock is not None else None
        except OSError:
            peer = None
        log.warning("raft connection with %s dropped: %s", peer, why)
        self.disconnect()


def _loads(payload: bytes) -> Any:
    try:
        return pickle.loads(payload)
    except Exception as exc:  # an authenticated peer sent garbage: still drop it
        raise FrameRejected(f"unreadable message: {type(exc).__name__}") from None


class SealedServer(TcpServer):  # type: ignore[misc]  # untyped PySyncObj
    """PySyncObj's TCP server, accepting `SealedConnection`s (pinned 0.3.17: repeats
    `TcpServer.__onNewConnection` with the connection class swapped)."""

    def __init__(self, *args: Any, connection: Callable[..., SealedConnection], **kw: Any):
        self._connection = connection
        super().__init__(*args, **kw)

    def _TcpServer__onNewConnection(self, descr: int, event: int) -> None:  # noqa: N802
        if event & POLL_EVENT_TYPE.READ:
            try:
                sock, _addr = self._TcpServer__socket.accept()
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, self._TcpServer__sendBufferSize
                )
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, self._TcpServer__recvBufferSize
                )
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(0)
                conn = self._connection(
                    poller=self._TcpServer__poller,
                    socket=sock,
                    timeout=self._TcpServer__connectionTimeout,
                    sendBufferSize=self._TcpServer__sendBufferSize,
                    recvBufferSize=self._TcpServer__recvBufferSize,
                    keepalive=self._TcpServer__keepalive,
                )
                self._TcpServer__onNewConnectionCallback(conn)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    self.unbind()
                    return
        if event & POLL_EVENT_TYPE.ERROR:
            self.unbind()


class SealedTransport(TCPTransport):  # type: ignore[misc]  # untyped PySyncObj
    """PySyncObj's TCP transport over `SealedConnection`s. Build with `sealed_transport`;
    the SyncObj must have no `password` (this transport replaces that encryption)."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any, *, secret: str) -> None:  # noqa: N803
        if syncObj.conf.password is not None:
            raise ValueError("SealedTransport replaces PySyncObj's password: set it to None")
        conf = syncObj.conf
        self._connection = functools.partial(
            SealedConnection,
            cluster_key=cluster_key(secret),
            # A message holds at most a batch of entries or a snapshot chunk (plus framing).
            max_frame_bytes=2 * (conf.appendEntriesBatchSizeBytes + conf.logCompactionBatchSize)
            + (1 << 16),
        )
        super().__init__(syncObj, selfNode, otherNodes)

    def _createServer(self) -> None:  # noqa: N802
        conf = self._syncObj.conf
        host, port = (conf.bindAddress or self._selfNode.address).rsplit(":", 1)
        self._server = SealedServer(
            self._syncObj._poller,
            globalDnsResolver().resolve(host),
            port,
            onNewConnection=self._onNewIncomingConnection,
            sendBufferSize=conf.sendBufferSize,
            recvBufferSize=conf.recvBufferSize,
            connectionTimeout=conf.connectionTimeout,
            connection=self._connection,
        )

    def _onIncomingMessageReceived(self, conn: SealedConnection, message: Any) -> None:  # noqa: N802
        """An accepted connection's first message names the peer (its address, or
        "readonly"; lists are PySyncObj's utility messages). Anything else is dropped with the
        connection here: PySyncObj looks it up in a dict, and an unhashable message (a Raft
        message of a peer that skipped its address) raised out of the tick thread's poll."""
        if not isinstance(message, str | list):
            log.warning("raft connection dropped: first message is not a peer's address")
            self._unknownConnections.discard(conn)
            conn.disconnect()
            return
        super()._onIncomingMessageReceived(conn, message)

    def addNode(self, raft_node: Any) -> None:  # noqa: N802
        """`TCPTransport.addNode` (pinned 0.3.17) with our connection class."""
        self._nodes.add(raft_node)
        self._nodeAddrToNode[raft_node.address] = raft_node
        if self._shouldConnect(raft_node):
            conf = self._syncObj.conf
            conn = self._connection(
                poller=self._syncObj._poller,
                timeout=conf.connectionTimeout,
                sendBufferSize=conf.sendBufferSize,
                recvBufferSize=conf.recvBufferSize,
                keepalive=conf.tcp_keepalive,
            )
            conn.setOnConnectedCallback(functools.partial(self._onOutgoingConnected, conn))
            conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, raft_node))
            conn.setOnDisconnectedCallback(functools.partial(self._onDisconnected, conn))
            self._connections[raft_node] = conn


def sealed_transport(secret: str) -> Callable[..., SealedTransport]:
    """The `transportClass` for a SyncObj of the cluster with this secret."""
    return functools.partial(SealedTransport, secret=secret)
