"""Zeebe gateway messages <-> zennode's dicts: pure functions, no I/O.

The message classes are pyzeebe's generated `gateway_protocol` code (see `__init__`), so this
module is the one place that knows both shapes: Zeebe's camelCase protobuf fields and the
engine's job / instance / deployment dicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pyzeebe.proto import gateway_pb2 as gw

from zennode.errors import BadRequest

DEFAULT_TENANT = "<default>"  # Zeebe's tenant id when multi-tenancy is off
NO_VARIABLES = "{}"


def check_tenant(tenant_id: str, what: str = "tenantId") -> None:
    """zennode has one tenant; like Zeebe without multi-tenancy, others are refused."""
    if tenant_id not in ("", DEFAULT_TENANT):
        raise BadRequest(
            f"{what} '{tenant_id}' is not allowed: multi-tenancy is off, "
            f"use '' or '{DEFAULT_TENANT}'"
        )


def check_tenants(tenant_ids: Iterable[str]) -> None:
    for tenant_id in tenant_ids:
        check_tenant(tenant_id, "tenantIds")


def parse_variables(text: str, what: str = "variables") -> dict[str, Any]:
    """A request's JSON document: empty means none; anything but an object is refused."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} must be a JSON object document, got invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object document, not {type(value).__name__}")
    return value


def json_object(value: Any) -> str:
    """A dict as a compact JSON object string; "{}" when there is nothing."""
    if not value:
        return NO_VARIABLES
    return json.dumps(value, separators=(",", ":"))


def only(variables: dict[str, Any] | None, names: Iterable[str]) -> dict[str, Any]:
    """Zeebe's fetchVariable(s): the named variables only; no names means all of them."""
    wanted = [name for name in names if name]
    variables = variables or {}
    if not wanted:
        return variables
    return {name: variables[name] for name in wanted if name in variables}


def activated_job(job: dict[str, Any], fetch: Iterable[str] = ()) -> gw.ActivatedJob:
    """An engine job record (as `activate_jobs` returns it) as Zeebe's ActivatedJob."""
    return gw.ActivatedJob(
        key=int(job["key"]),
        type=str(job.get("type", "")),
        processInstanceKey=int(job.get("processInstanceKey") or 0),
        bpmnProcessId=str(job.get("bpmnProcessId") or ""),
        processDefinitionVersion=int(job.get("processDefinitionVersion") or 0),
        processDefinitionKey=int(job.get("processDefinitionKey") or 0),
        elementId=str(job.get("elementId") or ""),
        elementInstanceKey=int(job.get("elementInstanceKey") or 0),
        customHeaders=json_object(job.get("customHeaders")),
        worker=str(job.get("worker") or ""),
        retries=int(job.get("retries") or 0),
        deadline=int(job.get("deadline") or 0),
        variables=json_object(only(job.get("variables"), fetch)),
        tenantId=DEFAULT_TENANT,
    )


def process_metadata(process: dict[str, Any], resource_name: str) -> gw.ProcessMetadata:
    return gw.ProcessMetadata(
        bpmnProcessId=str(process["bpmnProcessId"]),
        version=int(process["version"]),
        processDefinitionKey=int(process["processDefinitionKey"]),
        resourceName=resource_name,
        tenantId=DEFAULT_TENANT,
    )


def decision_deployments(result: dict[str, Any]) -> list[gw.Deployment]:
    """A `deploy_decisions` result as Zeebe lists it: the decision requirements (the DRG, one
    per document, with the resource name), then one entry per decision."""
    drg_id = str(result["decisionRequirementsId"])
    drg_key = int(result["decisionRequirementsKey"])
    requirements = gw.DecisionRequirementsMetadata(
        dmnDecisionRequirementsId=drg_id,
        dmnDecisionRequirementsName=str(result.get("decisionRequirementsName") or drg_id),
        version=int(result["version"]),
        decisionRequirementsKey=drg_key,
        resourceName=str(result.get("resourceName") or ""),
        tenantId=DEFAULT_TENANT,
    )
    decisions = [
        gw.Deployment(
            decision=gw.DecisionMetadata(
                dmnDecisionId=str(d["decisionId"]),
                dmnDecisionName=str(d.get("decisionName") or d["decisionId"]),
                version=int(d["version"]),
                decisionKey=int(d["decisionKey"]),
                dmnDecisionRequirementsId=drg_id,
                decisionRequirementsKey=drg_key,
                tenantId=DEFAULT_TENANT,
            )
        )
        for d in result.get("decisions", [])
    ]
    return [gw.Deployment(decisionRequirements=requirements), *decisions]


def json_value(value: Any) -> str:
    """Any JSON value as its compact JSON text (Zeebe sends decision values so: null is
    "null", a string is quoted)."""
    return json.dumps(value, separators=(",", ":"))


def evaluate_decision_response(result: dict[str, Any]) -> gw.EvaluateDecisionResponse:
    """An `evaluate_decision` result as Zeebe's answer. A failed evaluation is still an
    answer (as in Zeebe): `failedDecisionId` and `failureMessage` say which and why, and the
    decisions evaluated before it are listed."""
    return gw.EvaluateDecisionResponse(
        decisionKey=int(result["decisionKey"]),
        decisionId=str(result["decisionId"]),
        decisionName=str(result.get("decisionName") or result["decisionId"]),
        decisionVersion=int(result["decisionVersion"]),
        decisionRequirementsId=str(result["decisionRequirementsId"]),
        decisionRequirementsKey=int(result["decisionRequirementsKey"]),
        decisionOutput=json_value(result.get("output")),
        evaluatedDecisions=[_evaluated(e) for e in result.get("evaluatedDecisions", [])],
        failedDecisionId=str(result.get("failedDecisionId") or ""),
        failureMessage=str(result.get("failureMessage") or ""),
        tenantId=DEFAULT_TENANT,
    )


def _evaluated(decision: dict[str, Any]) -> gw.EvaluatedDecision:
    return gw.EvaluatedDecision(
        decisionKey=int(decision.get("decisionKey") or 0),
        decisionId=str(decision["decisionId"]),
        decisionName=str(decision.get("decisionName") or decision["decisionId"]),
        decisionVersion=int(decision.get("decisionVersion") or 0),
        decisionType=str(decision.get("decisionType") or ""),
        decisionOutput=json_value(decision.get("output")),
        evaluatedInputs=[
            gw.EvaluatedDecisionInput(
                inputId=str(i["inputId"]),
                inputName=str(i.get("inputName") or ""),
                inputValue=json_value(i.get("inputValue")),
            )
            for i in decision.get("evaluatedInputs") or []
        ],
        matchedRules=[
            gw.MatchedDecisionRule(
                ruleId=str(rule["ruleId"]),
                ruleIndex=int(rule["ruleIndex"]),
                evaluatedOutputs=[
                    gw.EvaluatedDecisionOutput(
                        outputId=str(o["outputId"]),
                        outputName=str(o.get("outputName") or ""),
                        outputValue=json_value(o.get("outputValue")),
                    )
                    for o in rule.get("evaluatedOutputs", [])
                ],
            )
            for rule in decision.get("matchedRules") or []
        ],
        tenantId=DEFAULT_TENANT,
    )


def deployed_processes(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every process a `deploy` result names (a document may hold several)."""
    processes = result.get("processes")
    if processes:
        return list(processes)
    return [result]


_ROLE = {
    "leader": gw.Partition.PartitionBrokerRole.LEADER,
    "follower": gw.Partition.PartitionBrokerRole.FOLLOWER,
}


def topology_response(topology: dict[str, Any], version: str) -> gw.TopologyResponse:
    """Our topology document (`zennode.cluster.topology`) as Zeebe's TopologyResponse.

    One broker per node, at its public gRPC address. A partition's replica on a node that
    answered is LEADER (if it is the partition's leader) or FOLLOWER, HEALTHY when the
    partition has a leader and UNHEALTHY when it has none; replicas on nodes that did not
    answer are INACTIVE and DEAD.
    """
    Partition = gw.Partition  # noqa: N806 - the generated class
    brokers = []
    for node in topology.get("nodes", []):
        host, _, port = str(node.get("grpc", "")).rpartition(":")
        partitions = []
        for part in topology.get("partitions", []):
            for replica in part.get("replicas", []):
                if replica.get("node") != node["id"]:
                    continue
                if not node.get("up", False) or not replica.get("up", False):
                    role = Partition.PartitionBrokerRole.INACTIVE
                    health = Partition.PartitionBrokerHealth.DEAD
                else:
                    is_leader = part.get("leader") == node["id"]
                    role = _ROLE["leader" if is_leader else "follower"]
                    health = (
                        Partition.PartitionBrokerHealth.HEALTHY
                        if part.get("leader") is not None
                        else Partition.PartitionBrokerHealth.UNHEALTHY
                    )
                partitions.append(Partition(partitionId=int(part["id"]), role=role, health=health))
        brokers.append(
            gw.BrokerInfo(
                nodeId=int(node["id"]),
                host=host,
                port=int(port) if port.isdigit() else 0,
                partitions=partitions,
                version=version,
            )
        )
    return gw.TopologyResponse(
        brokers=brokers,
        clusterSize=len(topology.get("nodes", [])),
        partitionsCount=int(topology.get("partitionsCount", 0)),
        replicationFactor=int(topology.get("replicationFactor", 0)),
        gatewayVersion=version,
    )
