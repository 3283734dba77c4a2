"""Each Gateway RPC against one real node (two partitions), through pyzeebe's generated stub.

These pin Zeebe's semantics one by one: job fields, long polling, retries and incidents,
errors, messages, and the status codes clients act on. The end-to-end flows with the real
clients (pyzeebe's worker, zbctl) are in test_pyzeebe.py and test_zbctl.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyzeebe.proto import gateway_pb2 as gw
from support.bpmn import (
    decision_task,
    message_wait,
    one_task,
    signal_wait,
    task_with_error_boundary,
)
from support.dmn import discount_table
from support.waits import eventually
from zeebe_client import Gateway, status_of
from zeebe_models import service_task, unique

pytestmark = pytest.mark.timeout(120)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_health_reports_serving_and_topology_lists_the_partitions(single_node: dict) -> None:
    async def scenario() -> None:
        async with Gateway(single_node) as g:
            health = health_pb2_grpc.HealthStub(g.channel)
            reply = await health.Check(
                health_pb2.HealthCheckRequest(service="gateway_protocol.Gateway"), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            topology = await g.stub.Topology(gw.TopologyRequest(), timeout=5)
            assert (topology.clusterSize, topology.partitionsCount) == (1, 2)
            assert topology.replicationFactor == 1
            assert topology.gatewayVersion
            (broker,) = topology.brokers
            assert f"{broker.host}:{broker.port}" == g.address
            leader = gw.Partition.PartitionBrokerRole.LEADER
            healthy = gw.Partition.PartitionBrokerHealth.HEALTHY
            assert sorted((p.partitionId, p.role, p.health) for p in broker.partitions) == [
                (1, leader, healthy),
                (2, leader, healthy),
            ]

    run(scenario())


def test_activated_job_carries_zeebe_fields(single_node: dict) -> None:
    process_id, job_type = unique("fields"), unique("fields-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            deployed = await g.deploy("fields.bpmn", service_task(process_id, job_type))
            (deployment,) = deployed.deployments
            assert deployment.process.bpmnProcessId == process_id
            assert deployment.process.version == 1
            assert deployment.process.resourceName == "fields.bpmn"
            assert deployment.process.tenantId == "<default>"
            instance_key = await g.create(process_id, {"amount": 7, "note": "x"})
            before_ms = int(time.time() * 1000)
            job = await g.activate_one(job_type, lock_ms=60_000, fetch=("amount",))
            assert job.type == job_type
            assert job.processInstanceKey == instance_key
            assert job.bpmnProcessId == process_id
            assert job.processDefinitionVersion == 1
            assert job.processDefinitionKey == deployment.process.processDefinitionKey
            assert job.elementId == "task" and job.elementInstanceKey > 0
            assert json.loads(job.customHeaders) == {"region": "eu"}
            assert json.loads(job.variables) == {"amount": 7}  # fetchVariable
            assert job.retries == 3 and job.worker == "tester"
            assert job.tenantId == "<default>"
            assert before_ms + 59_000 <= job.deadline <= int(time.time() * 1000) + 61_000
            await g.complete(job.key, {"done": True})
            finished = await eventually(
                lambda: _state_is(g, instance_key, "completed"), 10.0, "instance completed"
            )
            assert finished["variables"] == {"amount": 7, "note": "x", "done": True}

    run(scenario())


async def _state_is(g: Gateway, key: int, state: str) -> dict | None:
    instance = await g.instance(key)
    return instance if instance["state"] == state else None


def test_empty_jobs_are_json_objects(single_node: dict) -> None:
    process_id, job_type = unique("empty"), unique("empty-job")
    xml = one_task(process_id, job_type)  # no headers

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("empty.bpmn", xml)
            await g.create(process_id)
            job = await g.activate_one(job_type)
            assert (job.customHeaders, job.variables) == ("{}", "{}")
            await g.complete(job.key)

    run(scenario())


def test_long_polling_ends_ok_and_wakes_on_a_new_job(single_node: dict) -> None:
    process_id, job_type = unique("poll"), unique("poll-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("poll.bpmn", service_task(process_id, job_type))
            started = time.monotonic()
            assert await g.activate(job_type, request_timeout_ms=-1) == []  # no wait at all
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            assert await g.activate(job_type, request_timeout_ms=1_200) == []
            assert 1.1 <= time.monotonic() - started < 3.0
            # requestTimeout 0 is a 10 s default, but it ends OK before the client's deadline.
            started = time.monotonic()
            assert await g.activate(job_type, request_timeout_ms=0, deadline_s=2.0) == []
            assert time.monotonic() - started < 2.0
            # A parked poll returns as soon as a job is created.
            poll = asyncio.ensure_future(g.activate(job_type, request_timeout_ms=10_000))
            await asyncio.sleep(0.3)
            created_at = time.monotonic()
            instance_key = await g.create(process_id)
            jobs = await poll
            assert [j.processInstanceKey for j in jobs] == [instance_key]
            assert time.monotonic() - created_at < 1.5
            await g.complete(jobs[0].key)

    run(scenario())


def test_max_jobs_spans_partitions(single_node: dict) -> None:
    process_id, job_type = unique("many"), unique("many-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("many.bpmn", service_task(process_id, job_type))
            keys = {await g.create(process_id, {"i": i}) for i in range(6)}
            partitions = {key >> 51 for key in keys}
            assert partitions == {1, 2}  # instances go round robin over both partitions
            first = await g.activate(job_type, max_jobs=4)
            rest = await g.activate(job_type, max_jobs=10)
            assert len(first) == 4 and len(rest) == 2
            assert {j.processInstanceKey for j in first + rest} == keys
            for job in first + rest:
                await g.complete(job.key)

    run(scenario())


def test_expired_lock_makes_the_job_activatable_again(single_node: dict) -> None:
    process_id, job_type = unique("lock"), unique("lock-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("lock.bpmn", service_task(process_id, job_type))
            await g.create(process_id)
            first = await g.activate_one(job_type, lock_ms=300)
            assert await g.activate(job_type, request_timeout_ms=-1) == []  # locked
            started = time.monotonic()
            again = await g.activate_one(job_type)  # long poll until the lock expires
            assert again.key == first.key
            assert time.monotonic() - started < 3.0
            await g.complete(again.key)

    run(scenario())


def test_fail_job_retries_back_off_then_incident_and_resolve(single_node: dict) -> None:
    process_id, job_type = unique("fail"), unique("fail-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("fail.bpmn", service_task(process_id, job_type))
            instance_key = await g.create(process_id)
            job = await g.activate_one(job_type)
            await g.stub.FailJob(
                gw.FailJobRequest(
                    jobKey=job.key, retries=2, errorMessage="flaky", retryBackOff=500
                ),
                timeout=5,
            )
            assert await g.activate(job_type, request_timeout_ms=-1) == []  # backing off
            again = await g.activate_one(job_type)
            assert (again.key, again.retries) == (job.key, 2)
            # retries 0: the job fails for good and an incident is raised.
            await g.stub.FailJob(
                gw.FailJobRequest(jobKey=job.key, retries=0, errorMessage="broken"), timeout=5
            )
            (incident,) = await eventually(lambda: g.incidents(instance_key), 10.0, "incident")
            code = await status_of(g.complete(job.key))
            assert code == grpc.StatusCode.FAILED_PRECONDITION  # in an incident
            await g.stub.UpdateJobRetries(
                gw.UpdateJobRetriesRequest(jobKey=job.key, retries=1), timeout=5
            )
            await g.stub.ResolveIncident(
                gw.ResolveIncidentRequest(incidentKey=int(incident["key"])), timeout=5
            )
            resolve = gw.ResolveIncidentRequest(incidentKey=int(incident["key"]))
            code = await status_of(g.stub.ResolveIncident(resolve, timeout=5))
            assert code == grpc.StatusCode.NOT_FOUND  # resolved incidents are gone for Zeebe
            resolved = await g.activate_one(job_type)
            assert (resolved.key, resolved.retries) == (job.key, 1)
            await g.complete(resolved.key)
            await eventually(lambda: _state_is(g, instance_key, "completed"), 10.0, "completed")

    run(scenario())


def test_throw_error_is_caught_by_a_boundary_or_raises_an_incident(single_node: dict) -> None:
    caught_id, caught_type = unique("caught"), unique("caught-job")
    plain_id, plain_type = unique("uncaught"), unique("uncaught-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy(
                "caught.bpmn",
                task_with_error_boundary(caught_id, caught_type, "NO_STOCK", handler_task=False),
            )
            await g.deploy("plain.bpmn", service_task(plain_id, plain_type))
            caught = await g.create(caught_id)
            job = await g.activate_one(caught_type)
            await g.stub.ThrowError(
                gw.ThrowErrorRequest(jobKey=job.key, errorCode="NO_STOCK", errorMessage="none"),
                timeout=5,
            )
            await eventually(lambda: _state_is(g, caught, "completed"), 10.0, "caught error")
            plain = await g.create(plain_id)
            job = await g.activate_one(plain_type)
            await g.stub.ThrowError(
                gw.ThrowErrorRequest(jobKey=job.key, errorCode="NO_STOCK"), timeout=5
            )
            (incident,) = await eventually(lambda: g.incidents(plain), 10.0, "incident")
            assert "NO_STOCK" in json.dumps(incident)

    run(scenario())


def test_create_with_result_returns_fetched_variables_or_times_out(single_node: dict) -> None:
    process_id, job_type = unique("result"), unique("result-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("result.bpmn", service_task(process_id, job_type))

            async def worker() -> None:
                job = await g.activate_one(job_type)
                await g.complete(job.key, {"total": 42, "secret": "s"})

            task = asyncio.ensure_future(worker())
            request = gw.CreateProcessInstanceWithResultRequest(
                request=gw.CreateProcessInstanceRequest(
                    bpmnProcessId=process_id, version=-1, variables='{"a": 1}'
                ),
                requestTimeout=10_000,
                fetchVariables=["total", "a"],
            )
            result = await g.stub.CreateProcessInstanceWithResult(request, timeout=15)
            await task
            assert json.loads(result.variables) == {"total": 42, "a": 1}
            assert result.bpmnProcessId == process_id and result.version == 1
            # Nobody works on the job: DEADLINE_EXCEEDED after requestTimeout.
            request.requestTimeout = 400
            started = time.monotonic()
            code = await status_of(g.stub.CreateProcessInstanceWithResult(request, timeout=10))
            assert code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 3.0

    run(scenario())


def test_publish_message_correlates_and_refuses_a_live_duplicate_id(single_node: dict) -> None:
    process_id, name = unique("msg"), unique("paid")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("msg.bpmn", message_wait(process_id, name))
            instance_key = await g.create(process_id, {"orderId": "o-1"})
            publish = gw.PublishMessageRequest(
                name=name,
                correlationKey="o-1",
                timeToLive=60_000,
                messageId=unique("id"),
                variables='{"paid": true}',
            )
            reply = await g.stub.PublishMessage(publish, timeout=5)
            assert reply.key > 0 and reply.tenantId == "<default>"
            done = await eventually(lambda: _state_is(g, instance_key, "completed"), 10.0, "end")
            assert done["variables"]["paid"] is True
            code = await status_of(g.stub.PublishMessage(publish, timeout=5))
            assert code == grpc.StatusCode.ALREADY_EXISTS

    run(scenario())


def test_broadcast_signal_triggers_catch_events_on_every_partition(single_node: dict) -> None:
    process_id, name = unique("sig"), unique("go")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("sig.bpmn", signal_wait(process_id, name))
            waiting = [await g.create(process_id) for _ in range(2)]  # round robin: 2 partitions
            assert {key >> 51 for key in waiting} == {1, 2}
            for key in waiting:
                await eventually(lambda key=key: _state_is(g, key, "active"), 10.0, "waiting")
            signal = gw.BroadcastSignalRequest(signalName=name, variables='{"sent": 1}')
            reply = await g.stub.BroadcastSignal(signal, timeout=5)
            assert reply.key > 0 and reply.tenantId == "<default>"
            for key in waiting:
                done = await eventually(lambda key=key: _state_is(g, key, "completed"), 10.0, "end")
                assert done["variables"]["sent"] == 1
            invalid = grpc.StatusCode.INVALID_ARGUMENT
            tenant = gw.BroadcastSignalRequest(signalName=name, tenantId="acme")
            assert await status_of(g.stub.BroadcastSignal(tenant, timeout=5)) == invalid
            unnamed = gw.BroadcastSignalRequest(signalName="")
            assert await status_of(g.stub.BroadcastSignal(unnamed, timeout=5)) == invalid
            not_object = gw.BroadcastSignalRequest(signalName=name, variables="[1]")
            assert await status_of(g.stub.BroadcastSignal(not_object, timeout=5)) == invalid

    run(scenario())


def test_set_variables_update_timeout_and_cancel(single_node: dict) -> None:
    process_id, job_type = unique("misc"), unique("misc-job")

    not_found = grpc.StatusCode.NOT_FOUND

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            s = g.stub
            await g.deploy("misc.bpmn", service_task(process_id, job_type))
            instance_key = await g.create(process_id)
            job = await g.activate_one(job_type, lock_ms=5_000)
            reply = await g.stub.SetVariables(
                gw.SetVariablesRequest(elementInstanceKey=instance_key, variables='{"v": 2}'),
                timeout=5,
            )
            assert reply.key == instance_key
            assert (await g.instance(instance_key))["variables"]["v"] == 2
            local = gw.SetVariablesRequest(
                elementInstanceKey=job.elementInstanceKey, variables='{"w": 3}', local=True
            )
            await g.stub.SetVariables(local, timeout=5)
            view = await g.instance(instance_key)
            assert "w" not in view["variables"]  # local: in the task's own scope
            [task] = [e for e in view["activeElementInstances"] if e.get("variables")]
            assert task["elementInstanceKey"] == job.elementInstanceKey
            assert task["variables"] == {"w": 3}
            await g.stub.UpdateJobTimeout(
                gw.UpdateJobTimeoutRequest(jobKey=job.key, timeout=600_000), timeout=5
            )
            deadline = dt.datetime.fromisoformat((await g.job(job.key))["deadline"])
            assert deadline.timestamp() > time.time() + 500
            await g.stub.CancelProcessInstance(
                gw.CancelProcessInstanceRequest(processInstanceKey=instance_key), timeout=5
            )
            assert (await g.instance(instance_key))["state"] == "terminated"
            # Ended instances and their jobs are gone for Zeebe clients: NOT_FOUND.
            assert await status_of(g.complete(job.key)) == grpc.StatusCode.NOT_FOUND
            cancel = gw.CancelProcessInstanceRequest(processInstanceKey=instance_key)
            assert await status_of(s.CancelProcessInstance(cancel, timeout=5)) == not_found
            again = gw.SetVariablesRequest(elementInstanceKey=instance_key, variables="{}")
            assert await status_of(s.SetVariables(again, timeout=5)) == not_found

    run(scenario())


def test_stream_activated_jobs_pushes_new_jobs(single_node: dict) -> None:
    process_id, job_type = unique("stream"), unique("stream-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            await g.deploy("stream.bpmn", service_task(process_id, job_type))
            call = g.stub.StreamActivatedJobs(
                gw.StreamActivatedJobsRequest(
                    type=job_type, worker="streamer", timeout=30_000, fetchVariable=["n"]
                ),
                timeout=20,
            )
            await asyncio.sleep(0.3)  # the subscription is in place
            keys = [await g.create(process_id, {"n": i, "other": 1}) for i in range(3)]
            pushed = [await asyncio.wait_for(call.read(), 10) for _ in keys]
            assert sorted(j.processInstanceKey for j in pushed) == sorted(keys)
            for job in pushed:
                assert job.worker == "streamer" and job.type == job_type
                assert set(json.loads(job.variables)) == {"n"}
                assert json.loads(job.customHeaders) == {"region": "eu"}
                await g.complete(job.key)
            call.cancel()
            for key in keys:
                await eventually(lambda k=key: _state_is(g, k, "completed"), 10.0, "completed")

    run(scenario())


def test_status_codes_clients_act_on(single_node: dict) -> None:
    process_id, job_type = unique("codes"), unique("codes-job")
    invalid = grpc.StatusCode.INVALID_ARGUMENT

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            s = g.stub
            await g.deploy("codes.bpmn", service_task(process_id, job_type))
            unknown_job = (1 << 51) + 999_999
            assert await status_of(g.complete(unknown_job)) == grpc.StatusCode.NOT_FOUND
            assert await status_of(g.create(unique("nope"))) == grpc.StatusCode.NOT_FOUND
            assert await status_of(g.deploy("bad.bpmn", "<not-bpmn/>")) == invalid
            assert await status_of(g.deploy("rules.dmn", "<definitions/>")) == invalid
            bad_vars = gw.CreateProcessInstanceRequest(bpmnProcessId=process_id, variables="[1]")
            assert await status_of(s.CreateProcessInstance(bad_vars, timeout=5)) == invalid
            tenant = gw.CreateProcessInstanceRequest(bpmnProcessId=process_id, tenantId="acme")
            assert await status_of(s.CreateProcessInstance(tenant, timeout=5)) == invalid
            assert await status_of(g.activate(job_type, max_jobs=0)) == invalid
            assert await status_of(g.activate("", max_jobs=1)) == invalid
            retries = gw.UpdateJobRetriesRequest(jobKey=unknown_job, retries=0)
            assert await status_of(s.UpdateJobRetries(retries, timeout=5)) == invalid
            no_code = gw.ThrowErrorRequest(jobKey=unknown_job)
            assert await status_of(s.ThrowError(no_code, timeout=5)) == invalid
            # A job completed twice: the second is refused.
            await g.create(process_id)
            job = await g.activate_one(job_type)
            await g.complete(job.key)
            # Zeebe deletes completed jobs: completing one again is NOT_FOUND there too.
            assert await status_of(g.complete(job.key)) == grpc.StatusCode.NOT_FOUND
            no_decision = gw.EvaluateDecisionRequest()
            assert await status_of(s.EvaluateDecision(no_decision, timeout=5)) == invalid
            unknown = gw.EvaluateDecisionRequest(decisionId=unique("nope"))
            assert (
                await status_of(s.EvaluateDecision(unknown, timeout=5)) == grpc.StatusCode.NOT_FOUND
            )
            for call in (
                s.DeleteResource(gw.DeleteResourceRequest(resourceKey=1), timeout=5),
                s.MigrateProcessInstance(gw.MigrateProcessInstanceRequest(), timeout=5),
            ):
                assert await status_of(call) == grpc.StatusCode.UNIMPLEMENTED

    run(scenario())


def test_legacy_deploy_process(single_node: dict) -> None:
    process_id, job_type = unique("legacy"), unique("legacy-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            request = gw.DeployProcessRequest(
                processes=[
                    gw.ProcessRequestObject(
                        name="legacy.bpmn", definition=service_task(process_id, job_type).encode()
                    )
                ]
            )
            reply = await g.stub.DeployProcess(request, timeout=5)
            (process,) = reply.processes
            assert (process.bpmnProcessId, process.version) == (process_id, 1)
            again = await g.stub.DeployProcess(request, timeout=5)  # same content: same version
            assert again.processes[0].processDefinitionKey == process.processDefinitionKey

    run(scenario())


def test_dmn_deploys_with_bpmn_evaluates_and_runs_business_rule_tasks(single_node: dict) -> None:
    decision_id, drg, process_id = unique("discount"), unique("rules"), unique("priced")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            bpmn = decision_task(process_id, decision_id).encode()
            rules = discount_table(decision_id, drg).encode()
            request = gw.DeployResourceRequest(
                resources=[
                    gw.Resource(name="priced.bpmn", content=bpmn),
                    gw.Resource(name="rules.dmn", content=rules),
                ]
            )
            reply = await g.stub.DeployResource(request, timeout=5)
            kinds = [d.WhichOneof("Metadata") for d in reply.deployments]
            assert kinds == ["process", "decisionRequirements", "decision"]
            process, requirements, decision = (
                getattr(d, k) for d, k in zip(reply.deployments, kinds, strict=True)
            )
            assert (process.bpmnProcessId, process.resourceName) == (process_id, "priced.bpmn")
            assert (requirements.dmnDecisionRequirementsId, requirements.version) == (drg, 1)
            assert requirements.resourceName == "rules.dmn"
            assert (decision.dmnDecisionId, decision.dmnDecisionName, decision.version) == (
                decision_id, "Discount", 1,
            )  # fmt: skip
            assert decision.dmnDecisionRequirementsId == drg
            assert decision.decisionRequirementsKey == requirements.decisionRequirementsKey
            # the deployment's own key, which every definition of the call records
            definition_keys = (process.processDefinitionKey, decision.decisionKey)
            assert reply.key > 0 and reply.key not in definition_keys
            assert reply.key != requirements.decisionRequirementsKey

            # By id (the latest version) and by key; both partitions answer in turn.
            variables = json.dumps({"customer": "gold", "amount": 300})
            for by in ({"decisionId": decision_id}, {"decisionKey": decision.decisionKey}) * 2:
                request = gw.EvaluateDecisionRequest(variables=variables, **by)
                result = await g.stub.EvaluateDecision(request, timeout=5)
                assert (result.decisionKey, result.decisionVersion) == (decision.decisionKey, 1)
                assert json.loads(result.decisionOutput) == 0.1 and not result.failedDecisionId
                assert result.decisionRequirementsKey == requirements.decisionRequirementsKey
                (evaluated,) = result.evaluatedDecisions
                assert (evaluated.decisionId, evaluated.decisionType) == (
                    decision_id,
                    "DECISION_TABLE",
                )
                assert [json.loads(i.inputValue) for i in evaluated.evaluatedInputs] == [
                    "gold",
                    300,
                ]
                (rule,) = evaluated.matchedRules
                assert (rule.ruleId, rule.ruleIndex) == ("r_gold", 1)
                (output,) = rule.evaluatedOutputs
                assert (output.outputName, json.loads(output.outputValue)) == ("discount", 0.1)

            # A failing decision (UNIQUE, two rules match) is an answer naming it.
            failing = json.dumps({"customer": "gold", "amount": 800})
            request = gw.EvaluateDecisionRequest(decisionId=decision_id, variables=failing)
            failed = await g.stub.EvaluateDecision(request, timeout=5)
            assert failed.failedDecisionId == decision_id and "UNIQUE" in failed.failureMessage
            assert json.loads(failed.decisionOutput) is None

            # The business rule task: one instance runs through; one fails into an incident
            # naming the decision, and resolving it (after fixing the input) evaluates again.
            done = await g.create(process_id, {"customer": "silver", "amount": 5})
            stuck = await g.create(process_id, {"customer": "gold", "amount": 800})
            finished = await eventually(lambda: _state_is(g, done, "completed"), 10.0, "completed")
            assert finished is not None and finished["variables"]["result"] == 0.05
            (incident,) = await eventually(lambda: g.incidents(stuck), 10.0, "an incident")
            assert incident["errorType"] == "DECISION_EVALUATION_ERROR"
            assert decision_id in incident["message"] and "UNIQUE" in incident["message"]
            fixed = gw.SetVariablesRequest(
                elementInstanceKey=stuck, variables=json.dumps({"amount": 300})
            )
            await g.stub.SetVariables(fixed, timeout=5)
            resolve = gw.ResolveIncidentRequest(incidentKey=int(incident["key"]))
            await g.stub.ResolveIncident(resolve, timeout=5)
            resolved = await eventually(lambda: _state_is(g, stuck, "completed"), 10.0, "completed")
            assert resolved is not None and resolved["variables"]["result"] == 0.1

    run(scenario())
