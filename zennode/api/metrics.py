"""`/metrics` and `/system/metrics`: the node's Prometheus registry in the text format.

Both paths serve the same registry: `/metrics` is where Prometheus looks by default,
`/system/metrics` sits with the other `/system/*` endpoints (ZenBPM's layout).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from zennode.metrics import NodeMetrics


def router(node_metrics: NodeMetrics) -> APIRouter:
    api = APIRouter(tags=["system"])

    async def metrics() -> Response:
        body, content_type = node_metrics.render()
        return Response(content=body, media_type=content_type)

    for path in ("/metrics", "/system/metrics"):
        api.add_api_route(
            path,
            metrics,
            methods=["GET"],
            summary="Prometheus metrics of this node",
            response_class=Response,
            include_in_schema=path == "/metrics",
        )
    return api
