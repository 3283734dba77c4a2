"""`/v1/signals`: broadcast a signal to every partition."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from zennode.api.rest.models import IdempotencyKey
from zennode.service import Service


class BroadcastSignal(BaseModel):
    signalName: str = Field(min_length=1, max_length=255)
    variables: dict[str, Any] | None = None


class BroadcastedSignal(BaseModel):
    signalKey: int = Field(description="the signal's key (Zeebe's BroadcastSignal `key`)")
    triggered: int = Field(description="catch events, boundaries and event sub-processes woken")
    startedInstances: list[int] = Field(description="instances its signal start events created")


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/signals", tags=["signals"])

    @api.post(
        "",
        status_code=201,
        response_model=BroadcastedSignal,
        summary="Broadcast a signal to every partition",
        description="Every waiting signal event with this name is triggered, on all partitions.",
    )
    async def broadcast_signal(
        body: BroadcastSignal, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        result = await service.broadcast_signal(
            body.signalName, body.variables, idempotency_key=idempotency_key
        )
        return {
            "signalKey": result["key"],
            "triggered": result["triggered"],
            "startedInstances": result["startedInstances"],
        }

    return api
