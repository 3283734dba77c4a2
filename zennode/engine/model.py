"""The immutable, executable form of a deployed BPMN process.

The parser builds these once per deployed definition and the engine caches them by definition
key, so executing an element never touches XML or re-compiles a FEEL expression. Every element
knows its flow scope (the process or an embedded sub-process) so token bookkeeping can work per
scope without searching the tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Element kinds the engine executes (the `kind` of an Element). The BPMN tag name is kept
# separately in `bpmn_type` because the REST API shows it.
START = "start"
END = "end"
TERMINATE_END = "terminate_end"
ERROR_END = "error_end"
PASS = "pass"  # task, manualTask, intermediateThrowEvent (none): nothing to wait for
JOB_TASK = "job_task"
SCRIPT = "script"  # zeebe:script with a FEEL expression evaluated in place
BUSINESS_RULE = "business_rule"  # zeebe:calledDecision: a DMN decision evaluated in place
EXCLUSIVE = "exclusive"
PARALLEL = "parallel"
INCLUSIVE = "inclusive"
SUB_PROCESS = "sub_process"
ERROR_BOUNDARY = "error_boundary"
LINK_THROW = "link_throw"  # jumps to the link catch event of the same name and scope
TIMER_CATCH = "timer_catch"  # intermediate timer catch event: waits for its timer
MESSAGE_CATCH = "message_catch"  # intermediate message catch event and receive task
EVENT_BOUNDARY = "event_boundary"  # timer / message boundary event (fired by its trigger)
EVENT_GATEWAY = "event_gateway"  # waits for the first of the catch events after it
CALL_ACTIVITY = "call_activity"  # starts a child instance and waits for it
SIGNAL_CATCH = "signal_catch"  # intermediate signal catch event
SIGNAL_THROW = "signal_throw"  # intermediate signal throw and signal end event: broadcast
ESCALATION_THROW = "escalation_throw"  # intermediate escalation throw and escalation end event
ESCALATION_BOUNDARY = "escalation_boundary"  # on a sub-process or call activity

# Timer kinds (the BPMN element that holds the expression).
TIMER_DATE = "date"
TIMER_DURATION = "duration"
TIMER_CYCLE = "cycle"


@dataclass(frozen=True, slots=True)
class Expr:
    """A value that is either a FEEL expression (compiled once) or a literal string."""

    source: str
    compiled: Any = None  # a compiled FEEL expression, or None for a literal

    @property
    def is_feel(self) -> bool:
        return self.compiled is not None


@dataclass(frozen=True, slots=True)
class Mapping:
    """One zeebe/zenbpm ioMapping entry: `target` receives the value of `source` (null when
    the mapping has no source, as in ZenBPM)."""

    source: Expr | None
    target: str


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    job_type: Expr
    retries: Expr
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer event definition: `kind` is date, duration or cycle; `value` may be FEEL."""

    kind: str
    value: Expr


@dataclass(frozen=True, slots=True)
class Message:
    """A message event definition: name and (for catch events) correlation key, maybe FEEL."""

    name: Expr
    correlation_key: Expr | None = None


@dataclass(frozen=True, slots=True)
class Loop:
    """Multi-instance characteristics (zeebe:loopCharacteristics)."""

    sequential: bool
    input_collection: Expr
    input_element: str | None = None
    output_collection: str | None = None
    output_element: Expr | None = None
    completion_condition: Expr | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """A call activity's target process, how it binds a version (`latest`, or `deployment`:
    the version deployed with the calling process) and variable propagation."""

    process_id: Expr
    propagate_all_child: bool = True
    propagate_all_parent: bool = True
    binding: str = "latest"


@dataclass(frozen=True, slots=True)
class DecisionCall:
    """A business rule task's decision: its id (literal or FEEL) and how it binds a version
    (`latest`, `deployment`, `versionTag`; see engine/decisions.py)."""

    decision_id: Expr
    binding: str = "latest"
    version_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    source: str
    target: str
    condition: Expr | None = None


@dataclass(frozen=True, slots=True)
class Element:
    id: str
    name: str
    bpmn_type: str  # the XML tag, e.g. "serviceTask", shown in the API
    kind: str  # one of the constants above
    scope: str | None  # id of the enclosing sub-process, None at process level
    incoming: tuple[str, ...] = ()  # flow ids
    outgoing: tuple[str, ...] = ()  # flow ids, document order
    default_flow: str | None = None
    task: TaskDefinition | None = None
    inputs: tuple[Mapping, ...] = ()
    outputs: tuple[Mapping, ...] = ()
    script: Expr | None = None  # SCRIPT: the expression
    result_variable: str | None = None  # SCRIPT, BUSINESS_RULE: where its value goes
    decision: DecisionCall | None = None  # BUSINESS_RULE: the decision it evaluates
    error_code: str | None = None  # ERROR_END: code thrown; ERROR_BOUNDARY: code caught
    attached_to: str | None = None  # ERROR_BOUNDARY: the activity it sits on
    boundaries: tuple[str, ...] = ()  # ids of boundary events attached to this element
    start: str | None = None  # SUB_PROCESS: id of its none start event
    link: str | None = None  # LINK_THROW / link catch: the link name
    link_target: str | None = None  # LINK_THROW: id of the catch event it jumps to
    timer: Timer | None = None  # timer events (catch, boundary, start)
    message: Message | None = None  # message events (catch, boundary, start), receive task
    signal: Expr | None = None  # signal events: the signal name
    interrupting: bool = True  # boundary events (cancelActivity), event sub-process starts
    loop: Loop | None = None  # multi-instance activities
    call: Call | None = None  # CALL_ACTIVITY
    triggered_by_event: bool = False  # SUB_PROCESS: an event sub-process
    event_starts: tuple[str, ...] = ()  # SUB_PROCESS: start events of its event sub-processes
    error_start: bool = False  # start event of an error event sub-process
    escalation_start: bool = False  # start event of an escalation event sub-process
    escalation_code: str | None = None  # thrown / caught escalation code (None: catch all)


@dataclass(frozen=True, slots=True)
class Process:
    """One executable process of a definition."""

    bpmn_process_id: str
    name: str
    start: str | None  # id of the process-level none start event (None: only event starts)
    elements: dict[str, Element]
    flows: dict[str, Flow]
    # Inclusive joins: gateway id -> {incoming flow id -> ids of elements in the same scope
    # from which a token could still reach that flow without passing the gateway}.
    upstream: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)
    # Process-level timer and message start events, and the start events of the process's
    # own event sub-processes (opened when an instance starts).
    timer_starts: tuple[str, ...] = ()
    message_starts: tuple[str, ...] = ()
    signal_starts: tuple[str, ...] = ()
    event_starts: tuple[str, ...] = ()

    def element(self, element_id: str) -> Element:
        return self.elements[element_id]


@dataclass(frozen=True, slots=True)
class Definitions:
    """Everything one BPMN document deploys: its executable processes, in document order."""

    processes: tuple[Process, ...]
    warnings: tuple[str, ...] = ()  # what the parser ignored (told to the deployer, not stored)


@dataclass(frozen=True, slots=True)
class Deployed:
    """A process as deployed under a definition key and version (what the engine caches)."""

    key: int
    version: int
    process: Process
