"""`/v1/decision-definitions`: deploy DMN (raw XML or multipart `resource`), list, get, and
evaluate a decision."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from zennode.api.rest.definitions import read_resource
from zennode.api.rest.models import (
    DecisionDefinitionDetail,
    DecisionDefinitionPage,
    DecisionDeployResult,
    EvaluateDecisionRequest,
    EvaluateDecisionResult,
    IdempotencyKey,
)
from zennode.api.rest.shapes import page_items, with_iso_times
from zennode.errors import BadRequest
from zennode.service import Service

_DEPLOY_BODY = {
    "required": True,
    "content": {
        "application/xml": {"schema": {"type": "string", "description": "DMN 1.1-1.5 XML"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"resource": {"type": "string", "format": "binary"}},
                "required": ["resource"],
            }
        },
    },
}


def router(service: Service, page_size_max: int) -> APIRouter:
    api = APIRouter(prefix="/v1/decision-definitions", tags=["decision definitions"])

    @api.post(
        "",
        status_code=201,
        response_model=DecisionDeployResult,
        summary="Deploy a DMN model",
        description="Deploys every decision of the document to every partition; versions count "
        "per decision id. 201 for a new version; 200 with the existing keys when the same "
        "content was deployed before.",
        openapi_extra={"requestBody": _DEPLOY_BODY},
        responses={200: {"model": DecisionDeployResult, "description": "Identical content"}},
    )
    async def deploy_decisions(
        request: Request, response: Response, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        xml, resource_name = await read_resource(request)
        if not xml.strip():
            raise BadRequest("the DMN resource is empty")
        result = await service.deploy_decisions(
            xml, resource_name=resource_name, idempotency_key=idempotency_key
        )
        if result.get("duplicate"):
            response.status_code = 200
        return result

    @api.get(
        "",
        response_model_exclude_none=True,
        response_model=DecisionDefinitionPage,
        summary="List decision definitions",
    )
    async def list_decisions(
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        decisionId: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> dict[str, Any]:
        result = await service.list_decisions(page=page, size=size, decision_id=decisionId)
        return page_items(result)

    @api.get(
        "/{decisionKey}",
        response_model_exclude_none=True,
        response_model=DecisionDefinitionDetail,
        summary="One decision definition, with its DMN XML",
    )
    async def get_decision(decisionKey: int) -> dict[str, Any]:
        return with_iso_times(await service.get_decision(decisionKey))

    @api.post(
        "/{decisionId}/evaluate",
        response_model=EvaluateDecisionResult,
        summary="Evaluate the latest version of a decision",
        description="The result, and every evaluated decision (required decisions first) "
        "with its inputs and matched rules. A decision that fails (e.g. a UNIQUE table with "
        "two matches) is answered with `failedDecisionId` and `failureMessage`.",
    )
    async def evaluate_decision(decisionId: str, body: EvaluateDecisionRequest) -> dict[str, Any]:
        return await service.evaluate_decision(body.variables, decision_id=decisionId)

    return api
