"""`/v1/process-definitions`: deploy (raw XML or multipart `resource`), list, get."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from zennode.api.rest.models import (
    DefinitionStatistics,
    DeployResult,
    ElementStatistics,
    IdempotencyKey,
    ProcessDefinitionDetail,
    ProcessDefinitionPage,
    ReadConsistency,
)
from zennode.api.rest.shapes import page_items, with_iso_times
from zennode.errors import BadRequest
from zennode.service import Service

_DEPLOY_BODY = {
    "required": True,
    "content": {
        "application/xml": {"schema": {"type": "string", "description": "BPMN 2.0 XML"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"resource": {"type": "string", "format": "binary"}},
                "required": ["resource"],
            }
        },
    },
}


async def read_resource(request: Request) -> tuple[bytes, str]:
    """The resource's bytes (raw body or multipart `resource`) and, from a multipart
    upload, its file name."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=10) as form:
            resource = form.get("resource")
            if resource is None:
                raise BadRequest("multipart body has no 'resource' part")
            if isinstance(resource, UploadFile):
                return await resource.read(), (resource.filename or "")[:255]
            return resource.encode(), ""
    return await request.body(), ""


def router(service: Service, page_size_max: int) -> APIRouter:
    api = APIRouter(prefix="/v1/process-definitions", tags=["process definitions"])

    @api.post(
        "",
        status_code=201,
        response_model=DeployResult,
        summary="Deploy a BPMN model",
        description="Deploys to every partition. 201 for a new version; 200 with the existing "
        "key when the same content was deployed before.",
        openapi_extra={"requestBody": _DEPLOY_BODY},
        responses={200: {"model": DeployResult, "description": "Identical content, same key"}},
    )
    async def deploy(
        request: Request, response: Response, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        xml, resource_name = await read_resource(request)
        if not xml.strip():
            raise BadRequest("the BPMN resource is empty")
        result = await service.deploy(
            xml, resource_name=resource_name, idempotency_key=idempotency_key
        )
        if result.get("duplicate"):
            response.status_code = 200
        return result

    @api.get(
        "",
        response_model_exclude_none=True,
        response_model=ProcessDefinitionPage,
        summary="List process definitions",
    )
    async def list_definitions(
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        bpmnProcessId: Annotated[str | None, Query(max_length=1000)] = None,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_definitions(
            page=page, size=size, bpmn_process_id=bpmnProcessId, consistency=consistency
        )
        return page_items(result)

    @api.get(
        "/statistics",
        response_model=list[DefinitionStatistics],
        summary="Instances per definition and state",
        description="Summed over the partitions; definitions without instances held are left "
        "out. failed = active with an open incident; the four states are exclusive.",
    )
    async def definition_statistics(
        consistency: ReadConsistency = "linearizable",
    ) -> list[dict[str, Any]]:
        return await service.definition_statistics(consistency)

    @api.get(
        "/{processDefinitionKey}",
        response_model_exclude_none=True,
        response_model=ProcessDefinitionDetail,
        summary="One process definition, with its XML",
    )
    async def get_definition(
        processDefinitionKey: int,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        return with_iso_times(await service.get_definition(processDefinitionKey, consistency))

    @api.get(
        "/{processDefinitionKey}/statistics",
        response_model=list[ElementStatistics],
        summary="Per element of a definition: active, completed, terminated, incidents",
        description="Summed over the partitions; counts cover the instances still held "
        "(an instance deleted by history retention no longer counts).",
    )
    async def element_statistics(
        processDefinitionKey: int,
        consistency: ReadConsistency = "linearizable",
    ) -> list[dict[str, Any]]:
        return await service.element_statistics(processDefinitionKey, consistency)

    return api
