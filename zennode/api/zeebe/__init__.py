"""Zeebe's gateway API (`gateway_protocol.Gateway`) on zennode's public gRPC port.

Camunda 8 clients and workers (pyzeebe, zbctl, the Java / Go / Node clients) talk to a node
as they would to a Zeebe gateway. The message and service classes are the ones pyzeebe
publishes (`pyzeebe.proto.gateway_pb2*`, generated from Zeebe's gateway.proto): Zeebe's
licence does not let us copy the .proto text into this repository, and pyzeebe's generated
code is the same wire format. The standard gRPC health service is registered beside it and
reports SERVING for `gateway_protocol.Gateway`.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pyzeebe.proto import gateway_pb2_grpc as gw_grpc

from zennode.api.zeebe.gateway import GatewayService
from zennode.cluster.client import ClusterClient
from zennode.jobs.streams import JobStreams
from zennode.service import Service

GATEWAY_SERVICE = "gateway_protocol.Gateway"


async def add_zeebe_gateway(
    server: grpc.aio.Server, service: Service, cluster: ClusterClient, streams: JobStreams
) -> GatewayService:
    """Register the Gateway and the health service on `server` (before it starts)."""
    gateway = GatewayService.create(service, cluster, streams)
    gw_grpc.add_GatewayServicer_to_server(gateway, server)
    checker = health.aio.HealthServicer()
    serving = health_pb2.HealthCheckResponse.SERVING
    await checker.set(GATEWAY_SERVICE, serving)
    await checker.set("", serving)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    return gateway


__all__ = ["GATEWAY_SERVICE", "GatewayService", "add_zeebe_gateway"]
