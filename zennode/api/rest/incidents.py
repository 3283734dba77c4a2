"""`/v1/incidents`: list (per-partition pages, by instance) and resolve."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from zennode.api.rest.models import (
    IdempotencyKey,
    Incident,
    IncidentPage,
    IncidentState,
    ReadConsistency,
)
from zennode.api.rest.shapes import paged, with_iso_times
from zennode.service import Service


def router(service: Service, page_size_max: int) -> APIRouter:
    api = APIRouter(prefix="/v1/incidents", tags=["incidents"])

    @api.get(
        "",
        response_model_exclude_none=True,
        response_model=IncidentPage,
        summary="List incidents, paged per partition",
    )
    async def list_incidents(
        processInstanceKey: Annotated[int | None, Query()] = None,
        state: Annotated[IncidentState | None, Query()] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_incidents(
            page=page,
            size=size,
            process_instance_key=processInstanceKey,
            state=state,
            consistency=consistency,
        )
        return paged(result)

    @api.get(
        "/{incidentKey}",
        response_model_exclude_none=True,
        response_model=Incident,
        summary="One incident",
    )
    async def get_incident(
        incidentKey: int,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        return with_iso_times(await service.get_incident(incidentKey, consistency))

    @api.post(
        "/{incidentKey}/resolve",
        status_code=204,
        response_class=Response,
        summary="Resolve an incident (its job becomes active again)",
    )
    async def resolve_incident(
        incidentKey: int, idempotency_key: IdempotencyKey = None
    ) -> Response:
        await service.resolve_incident(incidentKey, idempotency_key=idempotency_key)
        return Response(status_code=204)

    return api
