"""Mapping between zennode's dicts and Zeebe's messages: the cases a healthy cluster never shows."""

from __future__ import annotations

import json

import pytest
from pyzeebe.proto import gateway_pb2 as gw

from zennode.api.zeebe import mapping
from zennode.errors import BadRequest

ROLE = gw.Partition.PartitionBrokerRole
HEALTH = gw.Partition.PartitionBrokerHealth


def _replica(node: int, up: bool = True) -> dict:
    return {"node": node, "up": up}


def test_topology_marks_down_nodes_and_leaderless_partitions() -> None:
    topology = {
        "partitionsCount": 2,
        "replicationFactor": 2,
        "nodes": [
            {"id": 1, "grpc": "127.0.0.1:26501", "up": True},
            {"id": 2, "grpc": "127.0.0.1:26601", "up": False},
        ],
        "partitions": [
            {"id": 1, "leader": 1, "replicas": [_replica(1), _replica(2, up=False)]},
            {"id": 2, "leader": None, "replicas": [_replica(1), _replica(2, up=False)]},
        ],
    }
    reply = mapping.topology_response(topology, "9.9.9")
    assert (reply.clusterSize, reply.partitionsCount, reply.replicationFactor) == (2, 2, 2)
    assert reply.gatewayVersion == "9.9.9"
    one, two = reply.brokers
    assert (one.nodeId, one.host, one.port, one.version) == (1, "127.0.0.1", 26501, "9.9.9")
    assert [(p.partitionId, p.role, p.health) for p in one.partitions] == [
        (1, ROLE.LEADER, HEALTH.HEALTHY),
        (2, ROLE.FOLLOWER, HEALTH.UNHEALTHY),  # no leader anywhere
    ]
    assert [(p.role, p.health) for p in two.partitions] == [(ROLE.INACTIVE, HEALTH.DEAD)] * 2


def test_activated_job_defaults_and_fetch() -> None:
    job = {
        "key": 5,
        "type": "t",
        "processInstanceKey": 4,
        "variables": {"a": 1, "b": 2},
        "deadline": 1_700_000_000_000,
    }
    message = mapping.activated_job(job, fetch=["b", "missing"])
    assert json.loads(message.variables) == {"b": 2}
    assert message.customHeaders == "{}"  # no headers: an empty JSON object, never ""
    assert message.tenantId == "<default>"
    assert message.deadline == 1_700_000_000_000
    assert json.loads(mapping.activated_job(job).variables) == {"a": 1, "b": 2}


@pytest.mark.parametrize("text", ["[1, 2]", "3", '"x"', "{bad json"])
def test_variables_must_be_a_json_object(text: str) -> None:
    with pytest.raises(BadRequest):
        mapping.parse_variables(text)


def test_empty_variables_and_default_tenant_are_accepted() -> None:
    assert mapping.parse_variables("") == {}
    assert mapping.parse_variables("  ") == {}
    mapping.check_tenant("")
    mapping.check_tenant("<default>")
    with pytest.raises(BadRequest):
        mapping.check_tenants(["<default>", "acme"])


def test_a_failed_evaluation_maps_to_nulls_and_the_decisions_evaluated_before_it() -> None:
    """A required decision failed: no output ("null", as Zeebe sends it), the failing id and
    message set, and an evaluated decision of another document without a key maps to 0."""
    result = {
        "decisionKey": 7,
        "decisionId": "approve",
        "decisionName": "Approve",
        "decisionVersion": 2,
        "decisionRequirementsKey": 5,
        "decisionRequirementsId": "rules",
        "output": None,
        "failedDecisionId": "classify",
        "failureMessage": "decision 'classify': no rule matched",
        "evaluatedDecisions": [
            {"decisionId": "score", "decisionName": "Score", "decisionType": "LITERAL_EXPRESSION",
             "output": {"value": 3}},
        ],
    }  # fmt: skip
    response = mapping.evaluate_decision_response(result)
    assert response.decisionOutput == "null" and response.failedDecisionId == "classify"
    assert (response.decisionVersion, response.tenantId) == (2, mapping.DEFAULT_TENANT)
    (evaluated,) = response.evaluatedDecisions
    assert (evaluated.decisionKey, evaluated.decisionVersion) == (0, 0)
    assert json.loads(evaluated.decisionOutput) == {"value": 3}
    assert list(evaluated.matchedRules) == [] and list(evaluated.evaluatedInputs) == []


def test_a_dmn_deployment_lists_its_requirements_then_each_decision() -> None:
    result = {
        "decisionRequirementsKey": 5,
        "decisionRequirementsId": "rules",
        "decisionRequirementsName": "Rules",
        "version": 3,
        "resourceName": "rules.dmn",
        "decisions": [
            {"decisionKey": 6, "decisionId": "a", "decisionName": "A", "version": 3},
            {"decisionKey": 7, "decisionId": "b", "decisionName": "", "version": 1},
        ],
    }
    first, *decisions = mapping.decision_deployments(result)
    requirements = first.decisionRequirements
    assert (requirements.dmnDecisionRequirementsName, requirements.resourceName) == (
        "Rules",
        "rules.dmn",
    )
    assert [(d.decision.dmnDecisionId, d.decision.version) for d in decisions] == [
        ("a", 3),
        ("b", 1),
    ]
    assert decisions[1].decision.dmnDecisionName == "b"  # no name: the id
    assert {d.decision.decisionRequirementsKey for d in decisions} == {5}
