"""`/v1/modify`: ZenBPM's instance modification routes (semantics in
zennode/engine/bpmn/modification.py, docs/bpmn-support.md "Instance modification")."""

from typing import Any

from fastapi import APIRouter

from zennode.api.rest.models import (
    IdempotencyKey,
    ModifyInstanceRequest,
    ProcessInstance,
    StartInstanceAtElementsRequest,
)
from zennode.api.rest.shapes import with_iso_times
from zennode.service import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/modify", tags=["process instances"])

    @api.post(
        "/process-instance",
        response_model_exclude_none=True,
        response_model=ProcessInstance,
        summary="Modify an active instance: set variables, start and terminate tokens",
        description="Applied as one command: variables are set in the process scope, tokens "
        "start at the given elements (creating the sub-process instances they need), the "
        "given element instances end with their jobs, timers and subscriptions; a scope left "
        "without tokens ends too (the last token: the instance is terminated). Returns the "
        "instance after the modification.",
    )
    async def modify_instance(
        body: ModifyInstanceRequest, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        activate = []
        for start in body.elementInstancesToStart:
            item: dict[str, Any] = {"elementId": start.elementId}
            if start.ancestorElementInstanceKey is not None:
                item["ancestorElementInstanceKey"] = start.ancestorElementInstanceKey
            if start.variables:
                item["variables"] = [{"variables": start.variables}]
            activate.append(item)
        view = await service.modify_instance(
            body.processInstanceKey,
            variables=body.variables,
            activate=activate,
            terminate=[t.elementInstanceKey for t in body.elementInstancesToTerminate],
            idempotency_key=idempotency_key,
        )
        return with_iso_times(view)

    @api.post(
        "/start-process-instance",
        status_code=201,
        response_model_exclude_none=True,
        response_model=ProcessInstance,
        summary="Start an instance at given elements instead of its start event",
    )
    async def start_instance_at(
        body: StartInstanceAtElementsRequest, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        created = await service.create_instance(
            process_definition_key=body.processDefinitionKey,
            bpmn_process_id=body.bpmnProcessId,
            variables=body.variables,
            start_instructions=[{"elementId": e} for e in body.startingElementIds],
            idempotency_key=idempotency_key,
        )
        return with_iso_times(await service.get_instance(created["processInstanceKey"]))

    return api
