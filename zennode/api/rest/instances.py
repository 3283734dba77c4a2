"""`/v1/process-instances`: start (by key or latest version of an id), get, cancel."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from zennode.api.rest.models import (
    CreateInstanceRequest,
    CreateInstanceResult,
    IdempotencyKey,
    ProcessInstance,
    ProcessInstancePage,
    ReadConsistency,
    SetVariablesRequest,
)
from zennode.api.rest.shapes import paged, with_iso_times
from zennode.service import Service


def router(service: Service, page_size_max: int) -> APIRouter:
    api = APIRouter(prefix="/v1/process-instances", tags=["process instances"])

    @api.post(
        "",
        status_code=201,
        response_model=CreateInstanceResult,
        summary="Start a process instance",
        description="Give processDefinitionKey, or bpmnProcessId for its latest version.",
    )
    async def create_instance(
        body: CreateInstanceRequest, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        return await service.create_instance(
            idempotency_key=idempotency_key,
            process_definition_key=body.processDefinitionKey,
            bpmn_process_id=body.bpmnProcessId,
            variables=body.variables,
            history_ttl=body.historyTimeToLive,
        )

    @api.get(
        "",
        response_model_exclude_none=True,
        response_model=ProcessInstancePage,
        summary="List process instances, paged per partition",
    )
    async def list_instances(
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        return paged(await service.list_instances(page=page, size=size, consistency=consistency))

    @api.get(
        "/{processInstanceKey}",
        response_model_exclude_none=True,
        response_model=ProcessInstance,
        summary="State, variables and active elements of an instance",
    )
    async def get_instance(
        processInstanceKey: int,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        return with_iso_times(await service.get_instance(processInstanceKey, consistency))

    @api.post(
        "/{processInstanceKey}/cancel",
        status_code=204,
        response_class=Response,
        summary="Cancel an active instance (its jobs are terminated)",
    )
    async def cancel_instance(
        processInstanceKey: int, idempotency_key: IdempotencyKey = None
    ) -> Response:
        await service.cancel_instance(processInstanceKey, idempotency_key=idempotency_key)
        return Response(status_code=204)

    @api.patch(
        "/{processInstanceKey}/variables",
        status_code=204,
        response_class=Response,
        summary="Set variables in an active instance (or one of its scopes)",
    )
    async def set_variables(
        processInstanceKey: int, body: SetVariablesRequest, idempotency_key: IdempotencyKey = None
    ) -> Response:
        if body.elementInstanceKey is None:
            await service.set_variables(
                processInstanceKey,
                body.variables,
                local=body.local,
                idempotency_key=idempotency_key,
            )
        else:
            await service.set_element_variables(
                body.elementInstanceKey,
                body.variables,
                local=body.local,
                instance=processInstanceKey,
            )
        return Response(status_code=204)

    return api
