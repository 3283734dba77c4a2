"""Pydantic models of the REST bodies: they validate requests and make the OpenAPI real.

Request models forbid unknown fields, so a typo (`variabels`) is a 400, not silently ignored.
Keys are 64-bit integers (partition id in the high bits).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Header, Query
from pydantic import BaseModel, ConfigDict, Field

from zennode.engine.search import BUSINESS_KEY_CHARS_MAX
from zennode.service import COUNT_MAX, Consistency

INT64_MAX = 2**63 - 1
# A key in a request body: a positive int64 (partition id in the high bits).
Key = Annotated[int, Field(ge=1, le=INT64_MAX)]

# The `Idempotency-Key` header of every POST/PATCH that changes state (docs/api.md): a repeat
# with the same key gets the first answer and applies nothing again; another body is a 422.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Apply at most once: a repeat gets the first answer (kept 24 h by default)",
    ),
]

JobState = Literal["active", "activated", "completed", "failed", "terminated"]
# `?consistency=` of every GET: linearizable (the default) sees every write acknowledged before
# the request; local answers from the receiving node's replica as it is (docs/cluster.md).
ReadConsistency = Annotated[
    Consistency, Query(description="linearizable (default) or local: see docs/cluster.md")
]
InstanceState = Literal["active", "completed", "terminated", "failed"]
IncidentState = Literal["active", "resolved"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FlatPage(_Response):
    """One page of one partition's rows (the per-instance reads); subclasses add `items`."""

    page: int
    size: int
    count: int = Field(description="Items in this page")
    totalCount: int = Field(
        description="Items in all pages of this instance, always given (history: the element "
        "instances recorded; recording stops at 20 000 starts and ends, see `truncated`)"
    )


class ErrorBody(_Response):
    code: str = Field(description="Stable machine-readable error name, e.g. NOT_FOUND")
    message: str


# ------------------------------------------------------------------ definitions


# Every deployed definition records the deployment it came in: one deploy call (a REST deploy,
# `POST /v1/deployments`, or the Zeebe gateway's DeployResource, whose `key` it is).
DeploymentKey = Annotated[
    int | None,
    Field(
        description="The deployment (one deploy call) it came in; absent for definitions "
        "deployed before zennode recorded deployments"
    ),
]


class DeployResult(_Response):
    processDefinitionKey: int
    bpmnProcessId: str
    version: int
    deploymentKey: DeploymentKey = None
    warnings: list[str] | None = Field(
        default=None, description="What the parser ignored (e.g. a flow without source/target)"
    )


class ProcessDefinition(_Response):
    processDefinitionKey: int
    bpmnProcessId: str
    version: int
    name: str | None = None
    resourceName: str | None = None
    deployedAt: str | None = Field(default=None, description="ISO 8601 UTC")
    deploymentKey: DeploymentKey = None


class ProcessDefinitionDetail(ProcessDefinition):
    xml: str = Field(description="The deployed BPMN XML")


class ProcessDefinitionPage(_Response):
    items: list[ProcessDefinition]
    page: int
    size: int
    count: int
    totalCount: int


# -------------------------------------------------------------------- decisions


class DecisionDefinition(_Response):
    decisionKey: int
    decisionId: str
    decisionName: str
    version: int
    versionTag: str | None = None
    decisionRequirementsKey: int
    decisionRequirementsId: str
    resourceName: str | None = None
    deployedAt: str | None = Field(default=None, description="ISO 8601 UTC")
    deploymentKey: DeploymentKey = None


class DecisionDefinitionDetail(DecisionDefinition):
    xml: str = Field(description="The DMN document the decision belongs to")


class DecisionDefinitionPage(_Response):
    items: list[DecisionDefinition]
    page: int
    size: int
    count: int
    totalCount: int


class DecisionRequirements(_Response):
    """One deployed DMN document (its decision requirements graph)."""

    decisionRequirementsKey: int
    decisionRequirementsId: str
    decisionRequirementsName: str
    version: int
    resourceName: str | None = None
    deploymentKey: DeploymentKey = None


class DecisionDeployResult(DecisionRequirements):
    duplicate: bool
    decisions: list[DecisionDefinition]


# ------------------------------------------------------------------ deployments


class DeployedProcess(_Response):
    processDefinitionKey: int
    bpmnProcessId: str
    version: int
    resourceName: str
    deploymentKey: DeploymentKey = None


class DeploymentResult(_Response):
    """What one multi-resource deploy call deployed, as Zeebe's DeployResourceResponse lists
    it: the deployment key, then every process, decision requirements graph and decision."""

    deploymentKey: DeploymentKey = None  # the one deployment all the resources are in
    duplicate: bool = Field(
        description="Every resource was unchanged since one earlier deployment: its keys"
    )
    processes: list[DeployedProcess]
    decisionRequirements: list[DecisionRequirements]
    decisions: list[DecisionDefinition]
    warnings: list[str] | None = Field(
        default=None, description="What the parser ignored, prefixed with the resource name"
    )


class EvaluateDecisionRequest(_Request):
    variables: dict[str, Any] = Field(default_factory=dict, description="The decision's input")


class EvaluatedOutput(_Response):
    outputId: str
    outputName: str
    outputValue: Any = None


class MatchedRule(_Response):
    ruleId: str
    ruleIndex: int
    evaluatedOutputs: list[EvaluatedOutput]


class EvaluatedInput(_Response):
    inputId: str
    inputName: str
    inputValue: Any = None


class EvaluatedDecision(_Response):
    decisionId: str
    decisionName: str
    decisionKey: int | None = None
    decisionVersion: int | None = None
    decisionType: str
    output: Any = None
    evaluatedInputs: list[EvaluatedInput] | None = None
    matchedRules: list[MatchedRule] | None = None


class EvaluateDecisionResult(_Response):
    decisionKey: int
    decisionId: str
    decisionName: str
    decisionVersion: int
    decisionRequirementsKey: int
    decisionRequirementsId: str
    output: Any = Field(default=None, description="The decision's result (null on failure)")
    evaluatedDecisions: list[EvaluatedDecision] = Field(
        description="Every decision evaluated, required decisions first, with matched rules"
    )
    failedDecisionId: str | None = Field(default=None, description="Set when a decision failed")
    failureMessage: str | None = None


# -------------------------------------------------------------------- instances


class _InstanceStart(_Request):
    """What starts an instance: a definition key or a process id's latest version."""

    processDefinitionKey: Key | None = Field(
        default=None, description="Start this definition; or give bpmnProcessId"
    )
    bpmnProcessId: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Start the latest version of this process id",
    )
    variables: dict[str, Any] = Field(default_factory=dict)


class CreateInstanceRequest(_InstanceStart):
    historyTimeToLive: str | None = Field(
        default=None,
        max_length=64,
        description="How long the instance stays readable once it ended, then it is deleted: "
        "an ISO 8601 duration (P30D) or 30d / 12h / 15m / 90s, 0 = at once. "
        "Default: the node's retention.history_ttl",
    )
    businessKey: str | None = Field(
        default=None,
        min_length=1,
        max_length=BUSINESS_KEY_CHARS_MAX,
        description="Your own key for the instance: shown in its view, searchable "
        "(GET /v1/process-instances?businessKey=...)",
    )


class CreateInstanceResult(_Response):
    processInstanceKey: int
    processDefinitionKey: int
    bpmnProcessId: str
    version: int


class ElementInstance(_Response):
    elementInstanceKey: int
    elementId: str
    elementType: str | None = None
    state: str | None = None
    childProcessInstanceKey: int | None = Field(
        default=None, description="A call activity: the instance it waits for"
    )
    scopeKey: int | None = Field(
        default=None,
        description="The element instance it runs in (the process instance key at top level)",
    )
    variables: dict[str, Any] | None = Field(
        default=None, description="The local variables of this element instance's scope"
    )


class ProcessInstance(_Response):
    processInstanceKey: int
    processDefinitionKey: int
    bpmnProcessId: str
    version: int | None = None
    state: InstanceState = Field(description="failed = active with an open incident")
    businessKey: str | None = None
    variables: dict[str, Any]
    createdAt: str | None = Field(default=None, description="ISO 8601 UTC")
    endedAt: str | None = Field(default=None, description="ISO 8601 UTC")
    incidents: int = Field(default=0, description="Open incidents")
    activeElementInstances: list[ElementInstance]
    parentProcessInstanceKey: int | None = Field(
        default=None, description="A called instance: the instance whose call activity started it"
    )
    parentElementInstanceKey: int | None = Field(
        default=None, description="A called instance: the call activity's element instance"
    )


class InstancePartitionPage(_Response):
    partition: int
    items: list[ProcessInstance]


class ProcessInstancePage(_Response):
    partitions: list[InstancePartitionPage]
    page: int
    size: int
    count: int
    totalCount: int | None = Field(
        default=None,
        description="Exact number of matching instances over all partitions, read from the "
        "statistics counters (never a scan), so given only when every filter is `state`, "
        "`processDefinitionKey` or `bpmnProcessId` (or there is none); absent as soon as "
        "`businessKey`, `parentProcessInstanceKey`, `activityId`, `createdFrom` or `createdTo` "
        "is given, since counting those would read every match. `sortBy`, `sortOrder`, `page` "
        "and `size` do not change it. Each partition counts at the moment its page is read "
        "(with consistency=linearizable: after every write acknowledged before the request); "
        "instances deleted by history retention are not counted.",
    )


InstanceSortBy = Literal["key", "createdAt", "state"]
SortOrder = Literal["asc", "desc"]


class DefinitionStatistics(_Response):
    processDefinitionKey: int
    active: int = Field(description="Active instances with no open incident")
    completed: int
    failed: int = Field(description="Active instances with an open incident")
    terminated: int


class ElementStatistics(_Response):
    elementId: str
    active: int = Field(description="Element instances there now (incl. those at an incident)")
    completed: int = Field(description="Times a token completed the element")
    terminated: int = Field(description="Element instances ended by an interruption or cancel")
    incidents: int = Field(description="Element instances there at an open incident now")


class ElementHistory(_Response):
    key: int = Field(description="The element instance key")
    processInstanceKey: int
    elementId: str
    elementType: str = Field(description="BPMN type, e.g. serviceTask; multiInstanceBody")
    scopeKey: int = Field(description="The element instance it ran in (or the instance)")
    state: Literal["active", "completed", "terminated"]
    createdAt: str = Field(description="When it started, ISO 8601 UTC")
    endedAt: str | None = Field(default=None, description="When it ended, ISO 8601 UTC")


class ElementHistoryPage(FlatPage):
    items: list[ElementHistory] = Field(description="In start order")
    truncated: bool = Field(
        description="The instance ran past the history bound: later element instances are "
        "not recorded"
    )


class ChildInstancePage(FlatPage):
    items: list[ProcessInstance]


EventSubscriptionType = Literal["message", "timer", "signal"]


class EventSubscription(_Response):
    type: EventSubscriptionType
    key: int = Field(description="The subscription's (or timer's) key")
    processInstanceKey: int
    processDefinitionKey: int
    elementId: str = Field(description="The event that waits")
    elementInstanceKey: int | None = Field(
        default=None,
        description="The element instance that holds it (absent: the process instance, e.g. "
        "an event sub-process start)",
    )
    state: Literal["active"]
    messageName: str | None = None
    correlationKey: str | None = None
    signalName: str | None = None
    dueDate: str | None = Field(default=None, description="A timer: when it fires, ISO 8601")
    repetitionsLeft: int | None = Field(default=None, description="A cycle timer: fires left")


class EventSubscriptionPage(FlatPage):
    items: list[EventSubscription] = Field(description="In key order")


class DeleteVariableResult(_Response):
    processInstanceKey: int


# ------------------------------------------------------------------------- jobs


class Job(_Response):
    key: int
    type: str
    elementId: str
    processInstanceKey: int
    elementInstanceKey: int
    processDefinitionKey: int | None = None
    bpmnProcessId: str | None = None
    processDefinitionVersion: int | None = None
    state: JobState
    createdAt: str | None = Field(default=None, description="ISO 8601 UTC")
    variables: dict[str, Any] = Field(description="Input variables of the job")
    retries: int
    customHeaders: dict[str, Any] = Field(default_factory=dict)
    worker: str | None = Field(default=None, description="Worker holding the lock")
    deadline: str | None = Field(default=None, description="Lock expiry, ISO 8601 UTC")
    activatableAt: str | None = Field(default=None, description="End of retry back-off")
    errorCode: str | None = None
    errorMessage: str | None = None
    assignee: str | None = Field(default=None, description="The user it is assigned to")


class JobPartitionPage(_Response):
    partition: int
    items: list[Job]


class JobPage(_Response):
    partitions: list[JobPartitionPage]
    page: int
    size: int
    count: int = Field(description="Jobs in this response, over all partitions")
    totalCount: int | None = Field(
        default=None,
        description="Jobs matching the filters over all partitions, exact. A partition counts "
        f"by walking its matches, so it stops at {COUNT_MAX} (or at the end of the page asked for, "
        "if further): when any partition has more, totalCount is absent (use `count` and ask "
        "for the next page while a partition's page is full).",
    )


class InstanceJobPage(FlatPage):
    items: list[Job]


class AssignJobRequest(_Request):
    assignee: str = Field(min_length=1, max_length=255, description="The user's name or id")


class CompleteJobRequest(_Request):
    variables: dict[str, Any] = Field(default_factory=dict)


class CompleteJobByKeyRequest(_Request):
    jobKey: Key
    variables: dict[str, Any] = Field(default_factory=dict)


class FailJobRequest(_Request):
    errorCode: str | None = Field(
        default=None, description="BPMN error code: an error boundary/event with it catches it"
    )
    message: str | None = Field(default=None, max_length=10_000)
    retries: int | None = Field(
        default=None, ge=0, description="Retries left; default: the job's retries minus one"
    )
    retryBackoffMs: int | None = Field(
        default=None, ge=0, le=7 * 24 * 3600 * 1000, description="Wait before the next try"
    )
    variables: dict[str, Any] = Field(default_factory=dict)


class JobRetriesRequest(_Request):
    retries: int = Field(ge=1, le=1_000_000)


class StartElementInstance(_Request):
    elementId: str = Field(min_length=1, max_length=1000, description="Start a token here")
    variables: dict[str, Any] | None = Field(
        default=None,
        description="Set as local variables of the flow scope the element starts in (the "
        "process scope for an element at the top level)",
    )
    ancestorElementInstanceKey: Key | None = Field(
        default=None,
        description="(zennode) Start below this instance of one of the element's flow scopes "
        "(new instances of the scopes in between); default: the single active instance of "
        "each flow scope, or a new one",
    )


class TerminateElementInstance(_Request):
    elementInstanceKey: Key


class ModifyInstanceRequest(_Request):
    processInstanceKey: Key
    variables: dict[str, Any] | None = Field(
        default=None, description="Set in the process scope first"
    )
    elementInstancesToStart: list[StartElementInstance] = Field(
        default_factory=list, max_length=1000
    )
    elementInstancesToTerminate: list[TerminateElementInstance] = Field(
        default_factory=list, max_length=1000
    )


class StartInstanceAtElementsRequest(_InstanceStart):
    startingElementIds: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        min_length=1, max_length=1000, description="Start a token at each of these elements"
    )


class SetVariablesRequest(_Request):
    variables: dict[str, Any]
    elementInstanceKey: int | None = Field(
        default=None,
        description="The scope: one of the instance's element instances (default: the instance)",
    )
    local: bool = Field(
        default=False,
        description="Set the variables in that scope itself; otherwise each one updates the "
        "nearest scope that has it, else the process scope",
    )


# -------------------------------------------------------------------- incidents


class Incident(_Response):
    key: int
    processInstanceKey: int
    processDefinitionKey: int | None = None
    bpmnProcessId: str | None = None
    elementInstanceKey: int | None = None
    elementId: str | None = None
    jobKey: int | None = None
    errorType: str | None = None
    message: str
    state: IncidentState
    createdAt: str | None = Field(default=None, description="ISO 8601 UTC")
    resolvedAt: str | None = Field(default=None, description="ISO 8601 UTC")


class InstanceIncidentPage(FlatPage):
    items: list[Incident]


class IncidentPartitionPage(_Response):
    partition: int
    items: list[Incident]


class IncidentPage(_Response):
    partitions: list[IncidentPartitionPage]
    page: int
    size: int
    count: int
    totalCount: int | None = Field(
        default=None,
        description="Incidents matching the filters over all partitions, exact. A partition "
        f"counts by walking its matches, so it stops at {COUNT_MAX} (or at the end of the page "
        "asked for, if further): when any partition has more, totalCount is absent.",
    )


# ----------------------------------------------------------------------- system


class Health(_Response):
    status: Literal["UP", "DOWN"]


class PartitionStatus(_Response):
    model_config = ConfigDict(extra="allow")
    partition: int
    local: bool
    role: str | None = None
    leader: str | None = None


class NodeStatus(_Response):
    model_config = ConfigDict(extra="allow")
    nodeId: int
    ready: bool
    partitions: list[PartitionStatus]
