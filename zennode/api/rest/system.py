"""`/system/*`: liveness, readiness (every local partition has a leader) and node status."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from zennode.api.rest.models import Health, NodeStatus
from zennode.service import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/system", tags=["system"])

    @api.get("/health/live", response_model=Health, summary="The process serves HTTP")
    async def live() -> dict[str, str]:
        return {"status": "UP"}

    @api.get(
        "/health/ready",
        response_model=Health,
        summary="Every local partition has a leader",
        responses={503: {"model": Health}},
    )
    async def ready() -> Any:
        if service.is_ready():
            return {"status": "UP"}
        return JSONResponse({"status": "DOWN"}, status_code=503)

    @api.get("/status", response_model=NodeStatus, summary="Node and partition roles")
    async def status() -> dict[str, Any]:
        return await service.status()

    return api
