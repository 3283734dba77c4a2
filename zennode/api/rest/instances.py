"""`/v1/process-instances`: start (by key or latest version of an id), search, get, cancel, set
and delete variables; per instance its history, jobs, incidents, called children and open event
subscriptions (ZenBPM's routes; each reads the instance's own rows on its partition)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from zennode.api.rest.models import (
    BUSINESS_KEY_CHARS_MAX,
    INT64_MAX,
    ChildInstancePage,
    CreateInstanceRequest,
    CreateInstanceResult,
    DeleteVariableResult,
    ElementHistoryPage,
    EventSubscriptionPage,
    EventSubscriptionType,
    IdempotencyKey,
    IncidentState,
    InstanceIncidentPage,
    InstanceJobPage,
    InstanceSortBy,
    InstanceState,
    ProcessInstance,
    ProcessInstancePage,
    ReadConsistency,
    SetVariablesRequest,
    SortOrder,
)
from zennode.api.rest.shapes import epoch_ms, page_items, paged, with_iso_times
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
            business_key=body.businessKey,
        )

    @api.get(
        "",
        response_model_exclude_none=True,
        response_model=ProcessInstancePage,
        summary="Search process instances, paged per partition",
        description="Every given filter must match. `page` and `size` apply to each partition "
        "(page 1 with size 10 over two partitions returns up to 20 instances), each partition's "
        "page in the requested order. Served from indexes: a page reads about `page * size` "
        "index entries plus those the other filters reject (README: Finding instances).",
    )
    async def list_instances(
        state: Annotated[
            InstanceState | None,
            Query(description="failed = active with an open incident of its own"),
        ] = None,
        bpmnProcessId: Annotated[
            str | None, Query(min_length=1, max_length=1000, description="Any version of it")
        ] = None,
        processDefinitionKey: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
        businessKey: Annotated[
            str | None, Query(min_length=1, max_length=BUSINESS_KEY_CHARS_MAX)
        ] = None,
        parentProcessInstanceKey: Annotated[
            int | None,
            Query(ge=1, le=INT64_MAX, description="Instances a call activity of it started"),
        ] = None,
        activityId: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=1000,
                description="Instances with a token at this element now (waiting there or at "
                "an incident)",
            ),
        ] = None,
        createdFrom: Annotated[
            datetime | None, Query(description="ISO 8601 date-time, inclusive")
        ] = None,
        createdTo: Annotated[
            datetime | None, Query(description="ISO 8601 date-time, inclusive")
        ] = None,
        sortBy: Annotated[
            InstanceSortBy,
            Query(description="state sorts active, completed, failed, terminated; then by key"),
        ] = "key",
        sortOrder: Annotated[SortOrder, Query()] = "asc",
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_instances(
            page=page,
            size=size,
            consistency=consistency,
            sort_by=sortBy,
            sort_order=sortOrder,
            state=state,
            bpmn_process_id=bpmnProcessId,
            process_definition_key=processDefinitionKey,
            business_key=businessKey,
            parent_process_instance_key=parentProcessInstanceKey,
            activity_id=activityId,
            created_from=epoch_ms(createdFrom, "createdFrom"),
            created_to=epoch_ms(createdTo, "createdTo"),
        )
        return paged(result)

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

    @api.delete(
        "/{processInstanceKey}/variables/{variableName}",
        response_model=DeleteVariableResult,
        summary="Delete a variable of an active instance",
        description="From the process scope; with `elementInstanceKey`, the variable that "
        "element instance sees (the nearest scope outwards from it that has it). 404 when no "
        "such scope has it, 409 when the instance ended.",
    )
    async def delete_variable(
        processInstanceKey: int,
        variableName: str,
        elementInstanceKey: Annotated[int | None, Query(ge=1)] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        return await service.delete_variable(
            processInstanceKey,
            variableName,
            element_instance_key=elementInstanceKey,
            idempotency_key=idempotency_key,
        )

    @api.get(
        "/{processInstanceKey}/history",
        response_model_exclude_none=True,
        response_model=ElementHistoryPage,
        summary="Every element instance of an instance, in start order",
        description="Key, element id and type, start and end time and end state (active, "
        "completed, terminated) of each element instance, also of elements a token passed "
        "without waiting (gateways, events).",
    )
    async def get_history(
        processInstanceKey: int,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.get_instance_history(
            processInstanceKey, page=page, size=size, consistency=consistency
        )
        return page_items(result)

    @api.get(
        "/{processInstanceKey}/jobs",
        response_model_exclude_none=True,
        response_model=InstanceJobPage,
        summary="The jobs of an instance, in key order",
    )
    async def get_jobs(
        processInstanceKey: int,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_instance_jobs(
            processInstanceKey, page=page, size=size, consistency=consistency
        )
        return page_items(result)

    @api.get(
        "/{processInstanceKey}/incidents",
        response_model_exclude_none=True,
        response_model=InstanceIncidentPage,
        summary="The incidents of an instance, in key order",
    )
    async def get_incidents(
        processInstanceKey: int,
        state: Annotated[IncidentState | None, Query()] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_instance_incidents(
            processInstanceKey, page=page, size=size, state=state, consistency=consistency
        )
        return page_items(result)

    @api.get(
        "/{processInstanceKey}/child-processes",
        response_model_exclude_none=True,
        response_model=ChildInstancePage,
        summary="The instances the call activities of an instance started",
        description="Running and ended, in key order. A called instance lives on its "
        "parent's partition.",
    )
    async def get_child_processes(
        processInstanceKey: int,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_child_instances(
            processInstanceKey, page=page, size=size, consistency=consistency
        )
        return page_items(result)

    @api.get(
        "/{processInstanceKey}/event-subscriptions",
        response_model_exclude_none=True,
        response_model=EventSubscriptionPage,
        summary="Open timers, message and signal subscriptions of an instance",
        description="What the instance waits for now, with the element that waits and its "
        "message name and correlation key, signal name or due date. An ended instance has "
        "none.",
    )
    async def get_event_subscriptions(
        processInstanceKey: int,
        type: Annotated[EventSubscriptionType | None, Query()] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_event_subscriptions(
            processInstanceKey,
            page=page,
            size=size,
            subscription_type=type,
            consistency=consistency,
        )
        return page_items(result)

    return api
