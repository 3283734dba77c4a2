"""`/v1/cluster/topology`: nodes (up/down) and partitions (leader, followers, replicas)."""

from typing import Any

from fastapi import APIRouter

from zennode.service import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/cluster", tags=["cluster"])

    @api.get(
        "/topology",
        summary="Nodes with their addresses and up/down, partitions with leader, followers and "
        "each replica's role, applied index and state digest",
    )
    async def topology(digests: bool = True) -> dict[str, Any]:
        """Digests are kept as batches apply (a read, no scan); `digests=false` omits them."""
        return await service.topology(with_digest=digests)

    return api
