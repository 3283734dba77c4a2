"""Server side of the internal gRPC service (`proto/cluster.proto`): members only.

It binds only to the member's configured host, and every call must carry the cluster secret
in `x-zennode-secret` (compared in constant time); anything else is UNAUTHENTICATED. It only
runs work on partitions this node leads right now: a forwarded request never hops again, the
sender re-routes on a `not_committed` answer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc

from zennode.cluster import wire
from zennode.cluster.peers import MESSAGE_BYTES_MARGIN
from zennode.cluster.proto import cluster_pb2 as pb
from zennode.cluster.proto import cluster_pb2_grpc as pb_grpc
from zennode.errors import BadRequest, ConfigError, ZennodeError

if TYPE_CHECKING:
    from zennode.cluster.client import Cluster

log = logging.getLogger("zennode.cluster.server")


class ClusterService(pb_grpc.ClusterServicer):
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._secret = (cluster.config.secret or "").encode()

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        given = ""
        for key, value in context.invocation_metadata() or ():
            if key == wire.SECRET_HEADER:
                given = value if isinstance(value, str) else value.decode()
        if not self._secret or not hmac.compare_digest(given.encode(), self._secret):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "not a member of this cluster")

    async def Submit(self, request: pb.SubmitRequest, context: Any) -> pb.Reply:  # noqa: N802
        await self._authorize(context)
        try:
            command = _json_object(request.command_json, "command")
            outcome = await self.cluster.submit_wire_here(request.partition_id, command)
        except ZennodeError as exc:
            return pb.Reply(error_json=wire.dumps(wire.error_to_dict(exc)))
        if outcome.error is not None:
            return pb.Reply(error_json=wire.dumps(wire.error_to_dict(outcome.error)))
        return pb.Reply(result_json=wire.dumps(outcome.result))

    async def Read(self, request: pb.ReadRequest, context: Any) -> pb.Reply:  # noqa: N802
        await self._authorize(context)
        try:
            args = _json_object(request.args_json, "args")
            result = await self.cluster.read_here(request.partition_id, request.query, args)
        except ZennodeError as exc:
            return pb.Reply(error_json=wire.dumps(wire.error_to_dict(exc)))
        return pb.Reply(result_json=wire.dumps(result))

    async def Roles(self, request: pb.RolesRequest, context: Any) -> pb.RolesReply:  # noqa: N802
        await self._authorize(context)
        replicas = await self.cluster.replica_roles(with_digest=request.with_digest)
        return pb.RolesReply(
            node_id=self.cluster.config.node_id,
            replicas=[
                pb.ReplicaRole(
                    partition_id=pid,
                    role=r.role,
                    leader_node=r.leader_node or 0,
                    term=r.term,
                    applied_index=r.applied_index,
                    digest=r.digest,
                )
                for pid, r in sorted(replicas.items())
            ],
        )


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = wire.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value


async def start_internal_server(
    cluster: Cluster, services: Sequence[Callable[[grpc.aio.Server], Any]] = ()
) -> grpc.aio.Server:
    """Serve `Cluster` on the member's own host and internal port, on the running loop.

    `services` add other node-to-node services to the same server before it starts (the
    node wires the job relay in this way, so this layer does not import the jobs layer).
    """
    host, port = cluster.config.host, cluster.config.ports.internal
    size = cluster.config.limits.request_bytes_max + MESSAGE_BYTES_MARGIN
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),
        ]
    )
    pb_grpc.add_ClusterServicer_to_server(ClusterService(cluster), server)
    for add_service in services:
        add_service(server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise ConfigError(f"port {port} (internal) on {host} cannot be bound: {exc}") from exc
    if bound == 0:
        raise ConfigError(f"port {port} (internal) on {host} cannot be bound")
    await server.start()
    return server


async def stop_internal_server(server: grpc.aio.Server) -> None:
    try:
        await asyncio.wait_for(server.stop(grace=0.5), timeout=3)
    except Exception:  # noqa: BLE001 - stopping is best effort
        log.debug("internal server stop failed", exc_info=True)
