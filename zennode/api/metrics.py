"""`/metrics` and `/system/metrics`: the node's Prometheus registry in the text format.

Both paths serve the same registry: `/metrics` is where Prometheus looks by default,
`/system/metrics` sits with the other `/system/*` endpoints (ZenBPM's layout).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response


def router(node: Any) -> APIRouter:
    api = APIRouter(tags=["system"])

    async def metrics() -> Response:
        body, content_type = node.metrics.render()
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
