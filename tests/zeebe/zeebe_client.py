"""A thin async client on pyzeebe's generated Gateway stub, for tests that check each RPC."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import grpc
import httpx
from pyzeebe.proto import gateway_pb2 as gw
from pyzeebe.proto import gateway_pb2_grpc as gw_grpc

CALL_TIMEOUT_S = 15.0


class Gateway:
    """`async with Gateway(cluster) as g:` a stub on node 0's gRPC port and a REST client."""

    def __init__(self, cluster: dict[str, Any], node_index: int = 0) -> None:
        node = cluster["nodes"][node_index]
        self.address = node["grpc"]
        self.http_url = node["http"]

    async def __aenter__(self) -> Gateway:
        self.channel = grpc.aio.insecure_channel(self.address)
        self.stub = gw_grpc.GatewayStub(self.channel)
        self.http = httpx.AsyncClient(base_url=self.http_url, timeout=CALL_TIMEOUT_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.channel.close()

    async def deploy(self, name: str, xml: str) -> gw.DeployResourceResponse:
        request = gw.DeployResourceRequest(resources=[gw.Resource(name=name, content=xml.encode())])
        return await self.stub.DeployResource(request, timeout=CALL_TIMEOUT_S)

    async def create(self, process_id: str, variables: dict[str, Any] | None = None) -> int:
        request = gw.CreateProcessInstanceRequest(
            bpmnProcessId=process_id, version=-1, variables=json.dumps(variables or {})
        )
        response = await self.stub.CreateProcessInstance(request, timeout=CALL_TIMEOUT_S)
        return int(response.processInstanceKey)

    async def activate(
        self,
        job_type: str,
        max_jobs: int = 10,
        lock_ms: int = 30_000,
        request_timeout_ms: int = -1,
        fetch: tuple[str, ...] = (),
        deadline_s: float = CALL_TIMEOUT_S,
    ) -> list[gw.ActivatedJob]:
        request = gw.ActivateJobsRequest(
            type=job_type,
            worker="tester",
            timeout=lock_ms,
            maxJobsToActivate=max_jobs,
            fetchVariable=list(fetch),
            requestTimeout=request_timeout_ms,
        )
        jobs: list[gw.ActivatedJob] = []
        async for response in self.stub.ActivateJobs(request, timeout=deadline_s):
            jobs.extend(response.jobs)
        return jobs

    async def activate_one(self, job_type: str, **kwargs: Any) -> gw.ActivatedJob:
        jobs = await self.activate(job_type, max_jobs=1, request_timeout_ms=5_000, **kwargs)
        assert len(jobs) == 1, f"expected one {job_type} job, got {len(jobs)}"
        return jobs[0]

    async def complete(self, job_key: int, variables: dict[str, Any] | None = None) -> None:
        request = gw.CompleteJobRequest(jobKey=job_key, variables=json.dumps(variables or {}))
        await self.stub.CompleteJob(request, timeout=CALL_TIMEOUT_S)

    async def instance(self, key: int) -> dict[str, Any]:
        response = await self.http.get(f"/v1/process-instances/{key}")
        response.raise_for_status()
        return response.json()

    async def incidents(self, instance_key: int) -> list[dict[str, Any]]:
        response = await self.http.get(
            "/v1/incidents", params={"processInstanceKey": instance_key, "state": "active"}
        )
        response.raise_for_status()
        return [item for part in response.json()["partitions"] for item in part["items"]]

    async def job(self, key: int) -> dict[str, Any]:
        response = await self.http.get(f"/v1/jobs/{key}")
        response.raise_for_status()
        return response.json()


async def status_of(call: Awaitable[Any]) -> grpc.StatusCode:
    """The status code a call fails with (fails the test if it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    raise AssertionError("the call succeeded; an error status was expected")
