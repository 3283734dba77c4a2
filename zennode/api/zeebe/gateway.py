"""`gateway_protocol.Gateway`: Zeebe's gateway API on top of the service façade.

Each RPC turns its request into a call of the façade (`zennode.service.Service`), or of the
job layer for job activation (`jobs.activation.JobActivator`, `jobs.streams.JobStreams`), and
maps the result back; errors become the status codes Zeebe clients expect (`status.py`). What
differs from Zeebe is listed in docs/zeebe-compat.md.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
from pyzeebe.proto import gateway_pb2 as gw
from pyzeebe.proto import gateway_pb2_grpc as gw_grpc

import zennode
from zennode.api.zeebe import mapping
from zennode.api.zeebe.results import InstanceResults
from zennode.api.zeebe.status import GatewayStatus, status_of, unary, unimplemented
from zennode.cluster.client import ClusterClient
from zennode.engine import keys
from zennode.errors import AlreadyExists, BadRequest, InvalidState, NotFound, ZennodeError
from zennode.jobs.activation import JobActivator
from zennode.jobs.streams import JobStreams, PushedJob
from zennode.service import DMN_SUFFIXES, Service, deployment_key_of

LONG_POLL_DEFAULT_S = 10.0  # ActivateJobs with requestTimeout 0 (Zeebe's default long poll)
LONG_POLL_MAX_S = 3600.0  # a longer requestTimeout is cut to this
RESULT_TIMEOUT_DEFAULT_S = 15.0  # CreateProcessInstanceWithResult without requestTimeout
RESULT_TIMEOUT_MAX_S = 3600.0
DEADLINE_MARGIN_S = 0.5  # an empty long poll ends this long before the client's deadline
JOBS_PER_CALL_MAX = 1000  # maxJobsToActivate is cut to this (the engine's own bound)
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
    """The Zeebe Gateway RPCs. Create with `GatewayService.create(...)` on the loop."""

    def __init__(
        self,
        service: Service,
        cluster: ClusterClient,
        streams: JobStreams,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.service = service
        self.cluster = cluster
        self.streams = streams
        self.activator = JobActivator(cluster, service, loop)
        self.results = InstanceResults(service, loop)
        cluster.add_event_listener(self.results.on_events)

    @classmethod
    def create(
        cls, service: Service, cluster: ClusterClient, streams: JobStreams
    ) -> GatewayService:
        return cls(service, cluster, streams, asyncio.get_running_loop())

    async def close(self) -> None:
        """The server stopped: stop expiring locks and stop listening to the cluster's events."""
        self.results.close()
        await self.activator.close()

    # ------------------------------------------------------------ cluster

    @unary
    async def Topology(self, request: gw.TopologyRequest, context: Any) -> gw.TopologyResponse:  # noqa: N802
        topology = await self.service.topology(with_digest=False)  # asks every peer, bounded
        return mapping.topology_response(topology, _version())

    # --------------------------------------------------------- deployment

    @unary
    async def DeployResource(  # noqa: N802
        self, request: gw.DeployResourceRequest, context: Any
    ) -> gw.DeployResourceResponse:
        """BPMN and DMN resources in one deployment: all are checked first (a bad one deploys
        nothing), then stored all or nothing as one command; each process, decision
        requirements graph and decision is listed."""
        mapping.check_tenant(request.tenantId)
        resources = [(r.name, r.content) for r in request.resources]
        results = await self.service.deploy_resources(resources)
        deployments: list[gw.Deployment] = []
        for (name, _content), result in zip(resources, results, strict=True):
            if "decisionRequirementsKey" in result:
                deployments.extend(mapping.decision_deployments(result))
            else:
                deployments.extend(
                    gw.Deployment(process=mapping.process_metadata(process, name))
                    for process in mapping.deployed_processes(result)
                )
        first = results[0]
        key = deployment_key_of(results) or first.get("decisionRequirementsKey")
        key = key or first["processDefinitionKey"]
        return gw.DeployResourceResponse(
            key=key, deployments=deployments, tenantId=mapping.DEFAULT_TENANT
        )

    @unary
    async def DeployProcess(  # noqa: N802
        self, request: gw.DeployProcessRequest, context: Any
    ) -> gw.DeployProcessResponse:
        """The deprecated BPMN-only deploy: DMN belongs in DeployResource."""
        for process in request.processes:
            if process.name.lower().endswith(DMN_SUFFIXES):
                raise BadRequest(
                    f"resource '{process.name}': DeployProcess deploys BPMN only, "
                    "deploy DMN with DeployResource"
                )
        resources = [(p.name, p.definition) for p in request.processes]
        results = await self.service.deploy_resources(resources)
        processes = [
            mapping.process_metadata(process, name)
            for (name, _content), result in zip(resources, results, strict=True)
            for process in mapping.deployed_processes(result)
        ]
        return gw.DeployProcessResponse(key=processes[0].processDefinitionKey, processes=processes)

    # ---------------------------------------------------------- instances

    @unary
    async def CreateProcessInstance(  # noqa: N802
        self, request: gw.CreateProcessInstanceRequest, context: Any
    ) -> gw.CreateProcessInstanceResponse:
        created = await self._create(request)
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
        with self.results.expect():
            created = await self._create(request.request)
            key = created["processInstanceKey"]
            led_here = self.cluster.leads(keys.partition_of(key))
            how = await self.results.wait(key, timeout_s, led_here)
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
        instance = await self.service.get_instance(key)
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

    async def _create(self, request: gw.CreateProcessInstanceRequest) -> dict[str, Any]:
        """New instances go round robin over all partitions, as Zeebe's gateway does (REST
        creates prefer the partitions the node leads: docs/cluster.md): a Zeebe client
        usually talks to one gateway address, and all its instances would land on that
        node's partitions."""
        mapping.check_tenant(request.tenantId)
        starts = [{"elementId": i.elementId} for i in request.startInstructions] or None
        variables = mapping.parse_variables(request.variables)
        if request.processDefinitionKey > 0:
            return await self.service.create_instance(
                process_definition_key=request.processDefinitionKey,
                variables=variables,
                start_instructions=starts,
                local_first=False,
            )
        if request.bpmnProcessId:
            return await self.service.create_instance(
                bpmn_process_id=request.bpmnProcessId,
                version=request.version if request.version > 0 else -1,
                variables=variables,
                start_instructions=starts,
                local_first=False,
            )
        raise BadRequest("give processDefinitionKey or bpmnProcessId")

    @unary
    async def CancelProcessInstance(  # noqa: N802
        self, request: gw.CancelProcessInstanceRequest, context: Any
    ) -> gw.CancelProcessInstanceResponse:
        key = request.processInstanceKey
        await self._ended_is_not_found("process instance", key, self.service.cancel_instance(key))
        return gw.CancelProcessInstanceResponse()

    @unary
    async def SetVariables(  # noqa: N802
        self, request: gw.SetVariablesRequest, context: Any
    ) -> gw.SetVariablesResponse:
        key = request.elementInstanceKey
        variables = mapping.parse_variables(request.variables)
        call = self.service.set_element_variables(key, variables, local=request.local)
        result = await self._ended_is_not_found("process instance", key, call)
        return gw.SetVariablesResponse(key=result["processInstanceKey"])

    @unary
    async def ModifyProcessInstance(  # noqa: N802
        self, request: gw.ModifyProcessInstanceRequest, context: Any
    ) -> gw.ModifyProcessInstanceResponse:
        """Zeebe's instance modification as one command (see engine/bpmn/modification.py).
        A variable instruction's empty `scopeId` is the process scope, as in Zeebe."""
        activate = []
        for instruction in request.activateInstructions:
            item: dict[str, Any] = {"elementId": instruction.elementId}
            if instruction.ancestorElementInstanceKey > 0:  # 0 / -1: Zeebe's "not given"
                item["ancestorElementInstanceKey"] = instruction.ancestorElementInstanceKey
            scoped = [
                {"scopeId": v.scopeId, "variables": mapping.parse_variables(v.variables)}
                for v in instruction.variableInstructions
            ]
            if scoped:
                item["variables"] = scoped
            activate.append(item)
        key = request.processInstanceKey
        call = self.service.modify_instance(
            key,
            activate=activate,
            terminate=[t.elementInstanceKey for t in request.terminateInstructions],
        )
        await self._ended_is_not_found("process instance", key, call)
        return gw.ModifyProcessInstanceResponse()

    @unary
    async def ResolveIncident(  # noqa: N802
        self, request: gw.ResolveIncidentRequest, context: Any
    ) -> gw.ResolveIncidentResponse:
        key = request.incidentKey
        await self._ended_is_not_found("incident", key, self.service.resolve_incident(key))
        return gw.ResolveIncidentResponse()

    # --------------------------------------------------- messages, signals

    @unary
    async def PublishMessage(  # noqa: N802
        self, request: gw.PublishMessageRequest, context: Any
    ) -> gw.PublishMessageResponse:
        mapping.check_tenant(request.tenantId)
        result = await self.service.publish_message(
            request.name,
            correlation_key=request.correlationKey,
            variables=mapping.parse_variables(request.variables),
            time_to_live_ms=request.timeToLive,
            message_id=request.messageId or None,
        )
        return gw.PublishMessageResponse(key=result["messageKey"], tenantId=mapping.DEFAULT_TENANT)

    @unary
    async def BroadcastSignal(  # noqa: N802
        self, request: gw.BroadcastSignalRequest, context: Any
    ) -> gw.BroadcastSignalResponse:
        mapping.check_tenant(request.tenantId)
        variables = mapping.parse_variables(request.variables)
        result = await self.service.broadcast_signal(request.signalName, variables)
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
        call = self.service.complete_job(request.jobKey, variables)
        await self._ended_is_not_found("job", request.jobKey, call)
        return gw.CompleteJobResponse()

    @unary
    async def FailJob(self, request: gw.FailJobRequest, context: Any) -> gw.FailJobResponse:  # noqa: N802
        if request.retryBackOff < 0:
            raise BadRequest("retryBackOff must not be negative")
        call = self.service.fail_job(
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
        call = self.service.throw_error(
            request.jobKey,
            request.errorCode,
            message=request.errorMessage,
            variables=mapping.parse_variables(request.variables),
        )
        await self._ended_is_not_found("job", request.jobKey, call)
        return gw.ThrowErrorResponse()

    @unary
    async def UpdateJobRetries(  # noqa: N802
        self, request: gw.UpdateJobRetriesRequest, context: Any
    ) -> gw.UpdateJobRetriesResponse:
        if request.retries < 1:
            raise BadRequest("retries must be at least 1")
        call = self.service.update_job_retries(request.jobKey, request.retries)
        await self._ended_is_not_found("job", request.jobKey, call)
        return gw.UpdateJobRetriesResponse()

    @unary
    async def UpdateJobTimeout(  # noqa: N802
        self, request: gw.UpdateJobTimeoutRequest, context: Any
    ) -> gw.UpdateJobTimeoutResponse:
        if request.timeout < 1:
            raise BadRequest("timeout must be at least 1 ms")
        call = self.service.update_job_timeout(request.jobKey, request.timeout)
        result = await self._ended_is_not_found("job", request.jobKey, call)
        self.activator.watch_lock(keys.partition_of(request.jobKey), int(result["deadline"]))
        return gw.UpdateJobTimeoutResponse()

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
            "job": self.service.get_job,
            "process instance": self.service.get_instance,
            "incident": self.service.get_incident,
        }[kind]
        try:
            return str((await read(key)).get("state"))
        except ZennodeError:
            return None

    # ----------------------------------------------------------- decisions

    @unary
    async def EvaluateDecision(  # noqa: N802
        self, request: gw.EvaluateDecisionRequest, context: Any
    ) -> gw.EvaluateDecisionResponse:
        """The decision `decisionKey`, else the latest version of `decisionId`. A decision that
        fails is answered (OK) with failedDecisionId and failureMessage, as Zeebe does."""
        mapping.check_tenant(request.tenantId)
        variables = mapping.parse_variables(request.variables)
        if request.decisionKey > 0:
            result = await self.service.evaluate_decision(
                variables, decision_key=request.decisionKey
            )
        elif request.decisionId:
            result = await self.service.evaluate_decision(variables, decision_id=request.decisionId)
        else:
            raise BadRequest("give decisionKey or decisionId")
        return mapping.evaluate_decision_response(result)

    # ------------------------------------------------------- unsupported

    @unary
    async def MigrateProcessInstance(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise unimplemented("MigrateProcessInstance")

    @unary
    async def DeleteResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise unimplemented("DeleteResource")
