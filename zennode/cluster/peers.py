"""Client side of the internal gRPC service: one channel per peer, every call bounded.

Transport failures are mapped to the error that tells the caller whether a retry is safe:
a peer that could not be reached at all never saw the command (`NotCommitted`), a call that
broke or timed out after it was sent may have been applied (`OutcomeUnknown`). Reads and role
polls are always safe to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc

from zennode.cluster import wire
from zennode.cluster.batcher import OutcomeUnknown
from zennode.cluster.proto import cluster_pb2 as pb
from zennode.cluster.proto import cluster_pb2_grpc as pb_grpc
from zennode.cluster.wire import PeerUnreachable
from zennode.config import Config
from zennode.engine.outcome import Outcome
from zennode.errors import ZennodeError

MESSAGE_BYTES_MARGIN = 1 << 20  # JSON framing around a command of request_bytes_max
_CONNECT_FAILURES = ("failed to connect", "connection refused", "connections to all backends")


class Peers:
    """Channels to every other member, created lazily, closed by `close()`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._members = {m.id: m for m in config.members if m.id != config.node_id}
        self._stubs: dict[int, pb_grpc.ClusterStub] = {}
        self._channels: list[grpc.aio.Channel] = []
        self._metadata = ((wire.SECRET_HEADER, config.secret or ""),)
        size = config.limits.request_bytes_max + MESSAGE_BYTES_MARGIN
        self._options = [
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            # reconnect quickly after a peer restarts (default backoff grows to minutes)
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            ("grpc.min_reconnect_backoff_ms", 100),
        ]

    @property
    def ids(self) -> list[int]:
        return sorted(self._members)

    def _stub(self, node_id: int) -> pb_grpc.ClusterStub:
        stub = self._stubs.get(node_id)
        if stub is None:
            member = self._members[node_id]
            channel = grpc.aio.insecure_channel(
                f"{member.host}:{member.ports.internal}", options=self._options
            )
            self._channels.append(channel)
            stub = pb_grpc.ClusterStub(channel)
            self._stubs[node_id] = stub
        return stub

    async def close(self) -> None:
        channels, self._channels, self._stubs = self._channels, [], {}
        for channel in channels:
            with contextlib.suppress(Exception):
                await channel.close(grace=0.5)

    async def submit(
        self, node_id: int, partition_id: int, command: dict[str, Any], timeout_s: float
    ) -> Outcome:
        """Run `command` on `node_id`, which should lead `partition_id`; its `Outcome`."""
        request = pb.SubmitRequest(
            partition_id=partition_id,
            command_json=wire.dumps(command),
            from_node=self.config.node_id,
        )
        try:
            reply = await self._stub(node_id).Submit(
                request, timeout=timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise _submit_error(exc, node_id, partition_id) from exc
        if reply.error_json:
            return Outcome(error=wire.error_from_wire(wire.loads(reply.error_json)))
        return Outcome(result=wire.loads(reply.result_json))

    async def read(
        self, node_id: int, partition_id: int, query: str, args: dict[str, Any], timeout_s: float
    ) -> Any:
        """Run the named query on `node_id`; its result, or raise the error it reported."""
        request = pb.ReadRequest(
            partition_id=partition_id,
            query=query,
            args_json=wire.dumps(args),
            from_node=self.config.node_id,
        )
        try:
            reply = await self._stub(node_id).Read(
                request, timeout=timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise _transport_error(exc, node_id, partition_id) from exc
        if reply.error_json:
            raise wire.error_from_wire(wire.loads(reply.error_json))
        return wire.loads(reply.result_json)

    async def roles(self, node_id: int, with_digest: bool, timeout_s: float) -> pb.RolesReply:
        request = pb.RolesRequest(from_node=self.config.node_id, with_digest=with_digest)
        try:
            return await self._stub(node_id).Roles(
                request, timeout=timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise _transport_error(exc, node_id, None) from exc

    async def roles_of_all(
        self, with_digest: bool, timeout_s: float
    ) -> dict[int, pb.RolesReply | None]:
        """Every peer's roles at once; None for a peer that did not answer in time."""
        ids = self.ids
        replies = await asyncio.gather(
            *(self.roles(i, with_digest, timeout_s) for i in ids), return_exceptions=True
        )
        return {
            i: (r if isinstance(r, pb.RolesReply) else None)
            for i, r in zip(ids, replies, strict=True)
        }


def _unreachable(exc: grpc.aio.AioRpcError) -> bool:
    if exc.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details = (exc.details() or "").lower()
    return any(marker in details for marker in _CONNECT_FAILURES)


def _submit_error(exc: grpc.aio.AioRpcError, node_id: int, partition_id: int) -> ZennodeError:
    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
        return ZennodeError(f"node {node_id} refused this node's cluster secret")
    if _unreachable(exc):
        return PeerUnreachable(f"node {node_id} is unreachable", partition_id, node_id)
    return OutcomeUnknown(
        f"forwarding to node {node_id} failed after sending ({exc.code().name}: "
        f"{exc.details()}); the command may or may not be applied",
        partition_id,
    )


def _transport_error(
    exc: grpc.aio.AioRpcError, node_id: int, partition_id: int | None
) -> ZennodeError:
    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
        return ZennodeError(f"node {node_id} refused this node's cluster secret")
    return PeerUnreachable(
        f"node {node_id} did not answer ({exc.code().name})", partition_id, node_id
    )
