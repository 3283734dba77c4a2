"""`gateway_protocol.Gateway`: Zeebe's gateway API on top of the `Node` façade.

Each RPC turns its request into node calls or engine commands (routed by `node.submit` to
the partition that owns the key) and maps the result back; errors become the status codes
Zeebe clients expect (`status.py`). What differs from Zeebe is listed in docs/zeebe-compat.md.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
from pyzeebe.proto import gateway_pb2 as gw
from pyzeebe.proto import gateway_pb2_grpc as gw_grpc

import zennode
from zennode.api.zeebe import mapping
from zennode.api.zeebe.polling import JobActivator, JobArrivals, LockExpiry
from zennode.api.zeebe.results import InstanceResults
from zennode.api.zeebe.status import GatewayStatus, status_of, unary, unimplemented
from zennode.engine import keys
from zennode.engine.commands import (
    Command,
    CreateInstance,
    PublishMessage,
    SetVariables,
    ThrowError,
    UpdateJobTimeout,
)
from zennode.engine.relay import message_partition
from zennode.errors import AlreadyExists, BadRequest, InvalidState, NotFound, ZennodeError
from zennode.jobs.streams import JobStreams, PushedJob

LONG_POLL_DEFAULT_S = 10.0  # ActivateJobs with requestTimeout 0 (Zeebe's default long poll)
LONG_POLL_MAX_S = 3600.0  # a longer requestTimeout is cut to this
RESULT_TIMEOUT_DEFAULT_S = 15.0  # CreateProcessInstanceWithResult without requestTimeout
RESULT_TIMEOUT_MAX_S = 3600.0
DEADLINE_MARGIN_S = 0.5  # an empty long poll ends this long before the client's deadline
JOBS_PER_CALL_MAX = 1000  # maxJobsToActivate is cut to this (the engine's own bound)
BPMN_SUFFIXES = (".bpmn", ".xml")
DEFAULT_WORKER = "default"  # Zeebe's worker name when a request names none
# States in which Zeebe has deleted the record (so its clients get NOT_FOUND); zennode keeps them.
ENDED_STATES = {
    "job": frozenset({"completed", "terminated"}),
    "process instance": frozenset({"completed", "terminated"}),
    "incident": frozenset({"resolved"}),
}

T = TypeVar("T")


def _version() -> str:
    return str(zennode.__version__)


class GatewayService(gw_grpc.GatewayServicer):
    """The Zeebe Gateway RPCs. Create with `GatewayService.create(node, streams)` on the loop."""

    def __init__(self, node: Any, streams: JobStreams, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.streams = streams
        self.arrivals = JobArrivals(loop)
        self.expiry = LockExpiry(node.submit)
        self.activator = JobActivator(node, self.arrivals, self.expiry)
        self.results = InstanceResults(node, loop)
        self._round_robin = itertools.count()
        node.add_event_listener(self.arrivals.on_events)
        node.add_event_listener(self.results.on_events)

    @classmethod
    def create(cls, node: Any, streams: JobStreams) -> GatewayService:
        return cls(node, streams, asyncio.get_running_loop())

    async def close(self) -> None:
        """The server stopped: stop expiring locks and stop listening to the node's events."""
        self.arrivals.close()
        self.results.close()
        await self.expiry.close()

    # ------------------------------------------------------------ cluster

    @unary
    async def Topology(self, request: gw.TopologyRequest, context: Any) -> gw.TopologyResponse:  # noqa: N802
        topology = await self.node.topology(with_digest=False)  # asks every peer, bounded
        return mapping.topology_response(topology, _version())

    # --------------------------------------------------------- deployment

    @unary
    async def DeployResource(  # noqa: N802
        self, request: gw.DeployResourceRequest, context: Any
    ) -> gw.DeployResourceResponse:
        mapping.check_tenant(request.tenantId)
        deployed = await self._deploy([(r.name, r.content) for r in request.resources])
        return gw.DeployResourceResponse(
            key=deployed[0][1]["processDefinitionKey"],
            deployments=[
                gw.Deployment(process=mapping.process_metadata(process, name))
                for name, process in deployed
            ],
            tenantId=mapping.DEFAULT_TENANT,
        )

    @unary
    async def DeployProcess(  # noqa: N802
        self, request: gw.DeployProcessRequest, context: Any
    ) -> gw.DeployProcessResponse:
        deployed = await self._deploy([(p.name, p.definition) for p in request.processes])
        return gw.DeployProcessResponse(
            key=deployed[0][1]["processDefinitionKey"],
            processes=[mapping.process_metadata(process, name) for name, process in deployed],
        )

    async def _deploy(self, resources: list[tuple[str, bytes]]) -> list[tuple[str, dict]]:
        """Check every resource first (a bad one deploys nothing), then deploy them in order."""
        if not resources:
            raise BadRequest("the deployment has no resources")
        from zennode.engine import Engine

        checker = Engine(1)
        for name, content in resources:
            if not name.lower().endswith(BPMN_SUFFIXES):
                raise BadRequest(
                    f"resource '{name}': zennode deploys BPMN only (a name ending in .bpmn or "
                    ".xml); DMN decisions and forms are not supported"
                )
            try:
                checker.validate_deploy(content)
            except BadRequest as exc:
                raise BadRequest(f"resource '{name}': {exc.message}") from exc
        deployed: list[tuple[str, dict]] = []
        for name, content in resources:
            result = await self.node.deploy(content, resource_name=name)
            deployed.extend((name, p) for p in mapping.deployed_processes(result))
        return deployed

    # ---------------------------------------------------------- instances

    @unary
    async def CreateProcessInstance(  # noqa: N802
        self, request: gw.CreateProcessInstanceRequest, context: Any
    ) -> gw.CreateProcessInstanceResponse:
        created = await self._create(request, self._next_partition())
        return gw.CreateProcessInstanceResponse(
            processDefinitionKey=created["processDefinitionKey"],
            bpmnProcessId=created["bpmnProcessId"],
            version=created["version"],
            processInstanceKey=created["processInstanceKey"],
            tenantId=mapping.DEFAULT_TENANT,
        )

    @unary
    async def CreateProcessInstanceWithResult(  # noqa: N802
        self, request: gw.CreateProcessInstanceWithResultRequest, context: Any
    ) -> gw.CreateProcessInstanceWithResultResponse:
        timeout_s = RESULT_TIMEOUT_DEFAULT_S
        if request.requestTimeout > 0:
            timeout_s = min(request.requestTimeout / 1000, RESULT_TIMEOUT_MAX_S)
        remaining = context.time_remaining()
        if remaining is not None:
            timeout_s = min(timeout_s, max(remaining - DEADLINE_MARGIN_S, 0.0))
        partition_id = self._next_partition()
        with self.results.expect():
            created = await self._create(request.request, partition_id)
            key = created["processInstanceKey"]
            how = await self.results.wait(key, timeout_s, self._leads(partition_id))
        if how is None:
            raise GatewayStatus(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"process instance {key} did not complete within {timeout_s:.3g} s "
                "(it goes on running)",
            )
        if how != "completed":
            raise GatewayStatus(
                grpc.StatusCode.ABORTED,
                f"process instance {key} was {how} before it completed",
            )
        instance = await self.node.get_instance(key)
        return gw.CreateProcessInstanceWithResultResponse(
            processDefinitionKey=created["processDefinitionKey"],
            bpmnProcessId=created["bpmnProcessId"],
            version=created["version"],
            processInstanceKey=key,
            variables=mapping.json_object(
                mapping.only(instance.get("variables"), request.fetchVariables)
            ),
            tenantId=mapping.DEFAULT_TENANT,
        )

    def _next_partition(self) -> int:
        """New instances go round robin over all partitions (as in Zeebe)."""
        partition_ids = list(self.node.config.partition_ids)
        return partition_ids[next(self._round_robin) % len(partition_ids)]

    def _leads(self, partition_id: int) -> bool:
        partition = self.node.local_partitions.get(partition_id)
        return partition is not None and bool(partition.is_leader)

    async def _create(
        self, request: gw.CreateProcessInstanceRequest, partition_id: int
    ) -> dict[str, Any]:
        mapping.check_tenant(request.tenantId)
        if request.startInstructions:
            raise unimplemented("startInstructions (starting at a chosen element)")
        variables = self.node.check_variables(mapping.parse_variables(request.variables))
        if request.processDefinitionKey > 0:
            command = CreateInstance(
                process_definition_key=request.processDefinitionKey, variables=variables
            )
        elif request.bpmnProcessId:
            command = CreateInstance(
                bpmn_process_id=request.bpmnProcessId,
                version=request.version if request.version > 0 else -1,
                variables=variables,
            )
        else:
            raise BadRequest("give processDefinitionKey or bpmnProcessId")
        return (await self.node.submit(partition_id, command)).unwrap()

    @unary
    async def CancelProcessInstance(  # noqa: N802
        self, request: gw.CancelProcessInstanceRequest, context: Any
    ) -> gw.CancelProcessInstanceResponse:
        key = request.processInstanceKey
        await self._ended_is_not_found("process instance", key, self.node.cancel_instance(key))
        return gw.CancelProcessInstanceResponse()

    @unary
    async def SetVariables(  # noqa: N802
        self, request: gw.SetVariablesRequest, context: Any
    ) -> gw.SetVariablesResponse:
        key = request.elementInstanceKey
        variables = self.node.check_variables(mapping.parse_variables(request.variables))
        command = SetVariables(element_instance_key=key, variables=variables)
        call = self._run(self._partition_of(key, "element instance"), command)
        result = await self._ended_is_not_found("process instance", key, call)
        return gw.SetVariablesResponse(key=result["processInstanceKey"])

    @unary
    async def ResolveIncident(  # noqa: N802
        self, request: gw.ResolveIncidentRequest, context: Any
    ) -> gw.ResolveIncidentResponse:
        key = request.incidentKey
        await self._ended_is_not_found("incident", key, self.node.resolve_incident(key))
        return gw.ResolveIncidentResponse()

    # --------------------------------------------------- messages, signals

    @unary
    async def PublishMessage(  # noqa: N802
        self, request: gw.PublishMessageRequest, context: Any
    ) -> gw.PublishMessageResponse:
        mapping.check_tenant(request.tenantId)
        if not request.name:
            raise BadRequest("a message needs a name")
        if request.timeToLive < 0:
            raise BadRequest("timeToLive must not be negative")
        variables = self.node.check_variables(mapping.parse_variables(request.variables))
        partition_id = message_partition(
            request.correlationKey, len(self.node.config.partition_ids)
        )
        command = PublishMessage(
            message_name=request.name,
            correlation_key=request.correlationKey,
            variables=variables,
            time_to_live=request.timeToLive,
            message_id=request.messageId or None,
        )
        result = (await self.node.submit(partition_id, command)).unwrap()
        return gw.PublishMessageResponse(key=result["messageKey"], tenantId=mapping.DEFAULT_TENANT)

    @unary
    async def BroadcastSignal(  # noqa: N802
        self, request: gw.BroadcastSignalRequest, context: Any
    ) -> gw.BroadcastSignalResponse:
        mapping.check_tenant(request.tenantId)
        variables = self.node.check_variables(mapping.parse_variables(request.variables))
        result = await self.node.broadcast_signal(request.signalName, variables)
        return gw.BroadcastSignalResponse(key=result["key"], tenantId=mapping.DEFAULT_TENANT)

    # ---------------------------------------------------------------- jobs

    async def ActivateJobs(  # noqa: N802
        self, request: gw.ActivateJobsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gw.ActivateJobsResponse]:
        try:
            self._check_job_request(request.type, request.timeout, request.tenantIds)
            if request.maxJobsToActivate < 1:
                raise BadRequest("maxJobsToActivate must be at least 1")
            jobs = await self.activator.activate(
                request.type,
                request.worker or DEFAULT_WORKER,
                self.streams.settings.lock_ms(request.timeout),  # at most 24 h
                min(request.maxJobsToActivate, JOBS_PER_CALL_MAX),
                self._long_poll_s(request.requestTimeout, context),
            )
        except (ZennodeError, GatewayStatus) as exc:
            await context.abort(*status_of(exc))
            return
        if jobs:
            fetch = list(request.fetchVariable)
            try:
                yield gw.ActivateJobsResponse(jobs=[mapping.activated_job(j, fetch) for j in jobs])
            except BaseException:  # the call ended before the jobs were sent: unlock them
                self.activator.release(jobs, request.worker or DEFAULT_WORKER)
                raise

    def _long_poll_s(self, request_timeout_ms: int, context: grpc.aio.ServicerContext) -> float:
        """0 = the default long poll, negative = none; ends before the client's deadline."""
        if request_timeout_ms < 0:
            return 0.0
        wait_s = LONG_POLL_DEFAULT_S if request_timeout_ms == 0 else request_timeout_ms / 1000
        wait_s = min(wait_s, LONG_POLL_MAX_S)
        remaining = context.time_remaining()
        if remaining is not None:
            margin = min(DEADLINE_MARGIN_S, remaining / 10)
            wait_s = min(wait_s, max(remaining - margin, 0.0))
        return wait_s

    def _check_job_request(self, job_type: str, lock_ms: int, tenant_ids: Any) -> None:
        if not job_type.strip():
            raise BadRequest("a job type is required")
        if lock_ms < 1:
            raise BadRequest("timeout (the job's lock, ms) must be at least 1")
        mapping.check_tenants(tenant_ids)

    async def StreamActivatedJobs(  # noqa: N802
        self, request: gw.StreamActivatedJobsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gw.ActivatedJob]:
        worker = request.worker or DEFAULT_WORKER
        try:
            self._check_job_request(request.type, request.timeout, request.tenantIds)
            # The job manager locks jobs in the stream's name, so that is the job's worker.
            stream = self.streams.open(f"zeebe:{worker}:{uuid.uuid4().hex[:8]}")
        except (ZennodeError, GatewayStatus) as exc:
            await context.abort(*status_of(exc))
            return
        fetch = list(request.fetchVariable)
        try:
            self.streams.subscribe(stream, request.type, lock_ms=request.timeout)
            while True:
                item = await stream.next_item()
                if item is None:
                    break
                if isinstance(item, PushedJob):
                    yield mapping.activated_job({**item.job, "worker": worker}, fetch)
        except ZennodeError as exc:
            await context.abort(*status_of(exc))
        finally:
            self.streams.close(stream)

    @unary
    async def CompleteJob(self, request: gw.CompleteJobRequest, context: Any) -> Any:  # noqa: N802
        variables = mapping.parse_variables(request.variables)
        call = self.node.complete_job(request.jobKey, variables)
        await self._ended_is_not_found("job", request.jobKey, call)
        return gw.CompleteJobResponse()

    @unary
    async def FailJob(self, request: gw.FailJobRequest, context: Any) -> gw.FailJobResponse:  # noqa: N802
        if request.retryBackOff < 0:
            raise BadRequest("retryBackOff must not be negative")
        call = self.node.fail_job(
            request.jobKey,
            retries=max(request.retries, 0),  # Zeebe: the new count; <= 0 raises an incident
            message=request.errorMessage,
            variables=mapping.parse_variables(request.variables),
            retry_backoff_ms=request.retryBackOff or None,
        )
        await self._ended_is_not_found("job", request.jobKey, call)
        return gw.FailJobResponse()

    @unary
    async def ThrowError(  # noqa: N802
        self, request: gw.ThrowErrorRequest, context: Any
    ) -> gw.ThrowErrorResponse:
        if not request.errorCode:
            raise BadRequest("ThrowError needs an errorCode")
        variables = self.node.check_variables(mapping.parse_variables(request.variables))
        command = ThrowError(
            job_key=request.jobKey,
            error_code=request.errorCode,
            message=request.errorMessage,
            variables=variables,
        )
        partition_id = self._partition_of(request.jobKey, "job")
        await self._ended_is_not_found("job", request.jobKey, self._run(partition_id, command))
        return gw.ThrowErrorResponse()

    @unary
    async def UpdateJobRetries(  # noqa: N802
        self, request: gw.UpdateJobRetriesRequest, context: Any
    ) -> gw.UpdateJobRetriesResponse:
        if request.retries < 1:
            raise BadRequest("retries must be at least 1")
        call = self.node.update_job_retries(request.jobKey, request.retries)
        await self._ended_is_not_found("job", request.jobKey, call)
        return gw.UpdateJobRetriesResponse()

    @unary
    async def UpdateJobTimeout(  # noqa: N802
        self, request: gw.UpdateJobTimeoutRequest, context: Any
    ) -> gw.UpdateJobTimeoutResponse:
        if request.timeout < 1:
            raise BadRequest("timeout must be at least 1 ms")
        partition_id = self._partition_of(request.jobKey, "job")
        command = UpdateJobTimeout(job_key=request.jobKey, timeout_ms=request.timeout)
        call = self._run(partition_id, command)
        result = await self._ended_is_not_found("job", request.jobKey, call)
        self.expiry.add(partition_id, int(result["deadline"]))
        return gw.UpdateJobTimeoutResponse()

    async def _run(self, partition_id: int, command: Command) -> dict[str, Any]:
        return (await self.node.submit(partition_id, command)).unwrap()

    async def _ended_is_not_found(self, kind: str, key: int, call: Awaitable[T]) -> T:
        """Run `call`; refused because the job / instance / incident has ended is NOT_FOUND.

        Zeebe deletes completed jobs, ended instances and resolved incidents, so its clients
        expect NOT_FOUND for them (pyzeebe: JobNotFoundError, ProcessInstanceNotFoundError);
        zennode keeps them for the REST views and its engine answers InvalidState. A job
        waiting in an incident stays FAILED_PRECONDITION, as in Zeebe.
        """
        try:
            return await call
        except InvalidState as exc:
            if isinstance(exc, AlreadyExists):
                raise
            state = await self._state_of(kind, key)
            if state in ENDED_STATES[kind]:
                raise NotFound(f"{kind} {key} is {state}") from exc
            raise

    async def _state_of(self, kind: str, key: int) -> str | None:
        read = {
            "job": self.node.get_job,
            "process instance": self.node.get_instance,
            "incident": self.node.get_incident,
        }[kind]
        try:
            return str((await read(key)).get("state"))
        except ZennodeError:
            return None

    def _partition_of(self, key: int, what: str) -> int:
        partition_id = keys.partition_of(key) if key > 0 else 0
        if partition_id not in self.node.config.partition_ids:
            raise NotFound(f"{what} {key} not found")
        return partition_id

    # ------------------------------------------------------- unsupported

    @unary
    async def EvaluateDecision(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise unimplemented("EvaluateDecision (DMN)")

    @unary
    async def ModifyProcessInstance(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise unimplemented("ModifyProcessInstance")

    @unary
    async def MigrateProcessInstance(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise unimplemented("MigrateProcessInstance")

    @unary
    async def DeleteResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise unimplemented("DeleteResource")
