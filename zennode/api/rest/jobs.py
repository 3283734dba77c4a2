"""`/v1/jobs`: list (per-partition pages), get, complete, fail."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from zennode.api.rest.models import (
    AssignJobRequest,
    CompleteJobByKeyRequest,
    CompleteJobRequest,
    FailJobRequest,
    IdempotencyKey,
    Job,
    JobPage,
    JobRetriesRequest,
    JobState,
    ReadConsistency,
)
from zennode.api.rest.shapes import paged, with_iso_times
from zennode.service import Service


def router(service: Service, page_size_max: int) -> APIRouter:
    api = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    @api.get(
        "",
        response_model_exclude_none=True,
        response_model=JobPage,
        summary="List jobs, paged per partition",
        description="`page` and `size` apply to each partition: page 1 with size 10 over two "
        "partitions returns up to 20 jobs.",
    )
    async def list_jobs(
        state: Annotated[JobState | None, Query()] = None,
        jobType: Annotated[str | None, Query(max_length=1000)] = None,
        processInstanceKey: Annotated[int | None, Query()] = None,
        assignee: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=page_size_max)] = 10,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        result = await service.list_jobs(
            page=page,
            size=size,
            state=state,
            job_type=jobType,
            process_instance_key=processInstanceKey,
            consistency=consistency,
            assignee=assignee,
        )
        return paged(result)

    @api.post(
        "",
        status_code=204,
        response_class=Response,
        summary="Complete a job (the original ZenBPM form)",
    )
    async def complete_by_body(
        body: CompleteJobByKeyRequest, idempotency_key: IdempotencyKey = None
    ) -> Response:
        await service.complete_job(body.jobKey, body.variables, idempotency_key=idempotency_key)
        return Response(status_code=204)

    @api.get("/{jobKey}", response_model_exclude_none=True, response_model=Job, summary="One job")
    async def get_job(
        jobKey: int,
        consistency: ReadConsistency = "linearizable",
    ) -> dict[str, Any]:
        return with_iso_times(await service.get_job(jobKey, consistency))

    @api.post(
        "/{jobKey}/complete",
        status_code=204,
        response_class=Response,
        summary="Complete a job; its variables merge into the instance",
    )
    async def complete_job(
        jobKey: int,
        body: CompleteJobRequest | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        variables = body.variables if body else {}
        await service.complete_job(jobKey, variables, idempotency_key=idempotency_key)
        return Response(status_code=204)

    @api.post(
        "/{jobKey}/fail",
        status_code=204,
        response_class=Response,
        summary="Fail a job",
        description="With an errorCode caught by an error event, that path is taken; with "
        "retries left the job becomes active again; otherwise an incident is created.",
    )
    async def fail_job(
        jobKey: int, body: FailJobRequest | None = None, idempotency_key: IdempotencyKey = None
    ) -> Response:
        body = body or FailJobRequest()
        await service.fail_job(
            jobKey,
            retries=body.retries,
            error_code=body.errorCode,
            message=body.message,
            variables=body.variables,
            retry_backoff_ms=body.retryBackoffMs,
            idempotency_key=idempotency_key,
        )
        return Response(status_code=204)

    @api.post(
        "/{jobKey}/assign",
        status_code=204,
        response_class=Response,
        summary="Assign a job to a user",
        description="Replaces an earlier assignee; `GET /v1/jobs?assignee=` finds it. 404 for "
        "an unknown job, 409 for one that completed or was terminated.",
    )
    async def assign_job(
        jobKey: int, body: AssignJobRequest, idempotency_key: IdempotencyKey = None
    ) -> Response:
        await service.assign_job(jobKey, body.assignee, idempotency_key=idempotency_key)
        return Response(status_code=204)

    @api.post(
        "/{jobKey}/retries",
        status_code=204,
        response_class=Response,
        summary="Set a job's retries",
        description="For a failed job the new retries apply once its incident is resolved.",
    )
    async def update_retries(
        jobKey: int, body: JobRetriesRequest, idempotency_key: IdempotencyKey = None
    ) -> Response:
        await service.update_job_retries(jobKey, body.retries, idempotency_key=idempotency_key)
        return Response(status_code=204)

    return api
