"""`/v1/messages`: publish a message to the partition that owns its correlation key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from zennode.api.rest.models import IdempotencyKey
from zennode.service import Service


class PublishMessage(BaseModel):
    messageName: str = Field(min_length=1, max_length=255)
    correlationKey: str | int = ""
    variables: dict[str, Any] | None = None
    timeToLive: int = Field(0, ge=0, description="ms the message stays buffered (0: not at all)")
    messageId: str | None = Field(None, min_length=1, max_length=255)


class PublishedMessage(BaseModel):
    messageKey: int
    partition: int
    correlated: int = Field(description="subscriptions the message was delivered to at once")
    startedInstances: list[int] = Field(description="instances its message start events created")


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/messages", tags=["messages"])

    @api.post(
        "",
        status_code=201,
        response_model=PublishedMessage,
        summary="Publish a message (correlates now, or while its time to live lasts)",
        description="A message with a `messageId` that is still buffered is refused with 409.",
    )
    async def publish_message(
        body: PublishMessage, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        key = (
            body.correlationKey
            if isinstance(body.correlationKey, str)
            else str(body.correlationKey)
        )
        return await service.publish_message(
            body.messageName,
            correlation_key=key,
            variables=body.variables,
            time_to_live_ms=body.timeToLive,
            message_id=body.messageId,
            idempotency_key=idempotency_key,
        )

    return api
