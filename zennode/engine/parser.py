"""BPMN 2.0 XML -> `model.Definitions`, safely, with every problem named at deploy.

Untrusted XML goes through defusedxml (no DTDs, no entities, no external references) with a size
and a nesting limit checked while parsing, so a hostile document costs bounded time and memory.
The `zeebe:` and `zenbpm:` extension namespaces are treated as one. A model that uses an element
this engine does not execute is rejected with one `BadRequest` that lists every such element,
so a user fixes the whole model at once instead of one element per attempt.

Leniencies ZenBPM has (docs/bpmn-support.md, "Leniencies"): well-known prefixes such as `zeebe:`
used without their `xmlns` declaration are bound to their namespace; a `sequenceFlow` with
neither source nor target is ignored with a deploy warning; service and send tasks and message
throw events without a task definition make jobs of type `NO_TASK_DEFINITION_JOB_TYPE`; an
error end event without an error code throws an error only catch-all catchers catch; a mapping
without a source sets null.
"""

from __future__ import annotations

import io
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element as XmlElement
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from zennode.engine import model as m
from zennode.engine.expressions import compile_feel, compile_value, name_problem
from zennode.errors import BadRequest, TooLarge

XML_BYTES_MAX = 10 * 1024 * 1024
XML_DEPTH_MAX = 200
ELEMENTS_MAX = 20_000
INCLUSIVE_ANALYSIS_STEPS_MAX = 2_000_000  # graph walk budget for inclusive joins per process

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
EXTENSION_NS = ("http://camunda.org/schema/zeebe/1.0", "http://zenbpm.pbinitiative.org/1.0")
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# Children of a process or sub-process that describe but never execute: skipped.
IGNORED = frozenset(
    {
        "documentation",
        "extensionElements",
        "laneSet",
        "textAnnotation",
        "association",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "dataInputAssociation",
        "dataOutputAssociation",
        "ioSpecification",
        "property",
        "group",
        "category",
        "auditing",
        "monitoring",
        "incoming",
        "outgoing",
        "supports",
        "resourceRole",
        "performer",
        "humanPerformer",
        "potentialOwner",
        "correlationSubscription",
        "multiInstanceLoopCharacteristics",  # read by the activity that holds it
        "standardLoopCharacteristics",
    }
)
JOB_TASKS = frozenset({"serviceTask", "sendTask", "businessRuleTask", "userTask", "scriptTask"})
ALWAYS_UNSUPPORTED = frozenset(
    {
        "complexGateway",
        "transaction",
        "adHocSubProcess",
        "subChoreography",
        "choreographyTask",
        "callChoreography",
    }
)
USER_TASK_JOB_TYPE = "user-task"
# The job type of a service or send task without a task definition (ZenBPM runs those with
# handlers registered by element id; zennode's `task_handler(element_id=...)` does the same).
NO_TASK_DEFINITION_JOB_TYPE = "no-task-definition"
# Elements that are jobs even without a task definition (ZenBPM): service and send tasks and
# message throw events (their `endEvent` / `intermediateThrowEvent` tag reaches `_task` only
# with a message definition).
UNTYPED_JOB_TASKS = frozenset({"serviceTask", "sendTask", "endEvent", "intermediateThrowEvent"})
DEFAULT_RETRIES = "3"

# Prefixes a model may use without declaring them (ZenBPM's XML reader does not check
# declarations): each is bound to its well-known namespace before parsing.
KNOWN_PREFIXES: dict[str, str] = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmn2": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "zeebe": "http://camunda.org/schema/zeebe/1.0",
    "zenbpm": "http://zenbpm.pbinitiative.org/1.0",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "modeler": "http://camunda.org/schema/modeler/1.0",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}
# The root element's tag, after an optional BOM, the XML declaration and comments.
_ROOT_TAG = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*<([A-Za-z_][\w.-]*(?::[\w.-]+)?)", re.S
)


def _tag(el: XmlElement) -> tuple[str, str]:
    """(namespace, local name) of an element."""
    tag = el.tag
    if isinstance(tag, str) and tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag if isinstance(tag, str) else ""


def declare_known_prefixes(data: bytes) -> bytes:
    """Bind the well-known prefixes the document uses but never declares, on its root element.

    Only a prefix with no `xmlns:<prefix>` anywhere in the document is bound, so a document
    that declares its prefixes is parsed byte for byte as given.
    """
    missing = [
        prefix
        for prefix in KNOWN_PREFIXES
        if re.search(rb"[<\s/]" + prefix.encode() + rb":[A-Za-z_]", data)
        and not re.search(rb"xmlns:" + prefix.encode() + rb"\s*=", data)
    ]
    if not missing:
        return data
    root = _ROOT_TAG.match(data)
    if root is None:
        return data  # not XML the parser can read anyway: let it report why
    declarations = b"".join(
        b' xmlns:%s="%s"' % (prefix.encode(), KNOWN_PREFIXES[prefix].encode()) for prefix in missing
    )
    return data[: root.end(1)] + declarations + data[root.end(1) :]


def parse_xml(data: bytes) -> XmlElement:
    """Parse untrusted XML with size, depth, DTD and entity limits."""
    if len(data) > XML_BYTES_MAX:
        raise TooLarge(f"BPMN document is {len(data)} bytes, over the limit of {XML_BYTES_MAX}")
    data = declare_known_prefixes(data)
    depth = 0
    root: XmlElement | None = None
    try:
        for event, el in iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            if event == "start":
                depth += 1
                if depth > XML_DEPTH_MAX:
                    raise BadRequest(f"BPMN document nests deeper than {XML_DEPTH_MAX} elements")
                if root is None:
                    root = el
            else:
                depth -= 1
    except DefusedXmlException as exc:
        raise BadRequest(f"BPMN document refused: {type(exc).__name__}") from None
    except ParseError as exc:
        raise BadRequest(f"BPMN document is not well-formed XML: {exc}") from None
    if root is None:
        raise BadRequest("BPMN document is empty")
    return root


@dataclass
class _Scope:
    """What the walk collects for one process or sub-process before the model is frozen."""

    sub_process: str | None
    elements: list[str] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)  # none start events
    event_starts: list[str] = field(default_factory=list)  # timer / message / error starts
    esp_starts: list[str] = field(default_factory=list)  # start events of its event sub-processes


@dataclass
class _Builder:
    """Collects elements, flows, unsupported elements and structural problems of one process."""

    errors: dict[str, str]  # bpmn:error id -> errorCode
    messages: dict[str, tuple[str, str | None]]  # bpmn:message id -> (name, correlation key)
    signals: dict[str, str]  # bpmn:signal id -> name
    escalations: dict[str, str]  # bpmn:escalation id -> escalationCode
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    flows: dict[str, m.Flow] = field(default_factory=dict)
    flow_scope: dict[str, str | None] = field(default_factory=dict)
    scopes: list[_Scope] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # deployed anyway, told to the deployer

    # -------------------------------------------------------------- walking the XML

    def walk(self, container: XmlElement, sub_process: str | None) -> _Scope:
        scope = _Scope(sub_process)
        self.scopes.append(scope)
        for child in container:
            ns, tag = _tag(child)
            if ns != BPMN_NS or tag in IGNORED:
                continue
            el_id = child.get("id") or ""
            if tag == "sequenceFlow":
                self._flow(child, el_id, sub_process)
                continue
            if not el_id:
                self.problems.append(f"a {tag} without an id")
                continue
            if el_id in self.raw or el_id in self.flows:
                self.problems.append(f"duplicate id {el_id}")
                continue
            if len(self.raw) >= ELEMENTS_MAX:
                raise BadRequest(f"a process may have at most {ELEMENTS_MAX} elements")
            self._element(child, el_id, tag, scope)
        return scope

    def _flow(self, el: XmlElement, flow_id: str, scope: str | None) -> None:
        if not el.get("sourceRef") and not el.get("targetRef"):
            # A connector left behind by a modeler: ZenBPM ignores it, so does zennode.
            name = f"sequence flow {flow_id}" if flow_id else "a sequence flow without an id"
            self.warnings.append(f"{name} has no source and no target: ignored")
            return
        if not flow_id:
            self.problems.append("a sequenceFlow without an id")
            return
        if flow_id in self.flows or flow_id in self.raw:
            self.problems.append(f"duplicate id {flow_id}")
            return
        condition = None
        for child in el:
            if _tag(child) == (BPMN_NS, "conditionExpression"):
                text = (child.text or "").strip()
                if text:
                    if not text.startswith("="):
                        self.unsupported.append(
                            f"{flow_id} (sequenceFlow/condition not FEEL: {text[:60]!r})"
                        )
                    else:
                        condition = m.Expr(text, compile_feel(text[1:], f"condition of {flow_id}"))
        self.flows[flow_id] = m.Flow(
            flow_id, el.get("sourceRef") or "", el.get("targetRef") or "", condition
        )
        self.flow_scope[flow_id] = scope

    def _element(self, el: XmlElement, el_id: str, tag: str, scope: _Scope) -> None:
        definitions = _event_definitions(el)
        loop = _loop_kind(el)
        info: dict[str, Any] = {
            "id": el_id,
            "name": el.get("name") or "",
            "bpmn_type": tag,
            "scope": scope.sub_process,
        }
        scope.elements.append(el_id)
        self.raw[el_id] = info
        ext = _extensions(el)
        if loop == "multiInstance":
            self._loop(el, el_id, tag, info, ext)
        elif loop:
            self.unsupported.append(f"{el_id} ({tag}/{loop})")
            return
        if tag in ("intermediateThrowEvent", "intermediateCatchEvent") and definitions == ["link"]:
            name = _link_name(el)
            if not name:
                self.problems.append(f"link event {el_id} has no link name")
                return
            info["kind"] = m.LINK_THROW if tag == "intermediateThrowEvent" else m.PASS
            info["link"] = name
            self._mappings(el_id, info, _extensions(el))
            return
        if tag in ALWAYS_UNSUPPORTED:
            detail = f"/{'+'.join(definitions)}" if definitions else ""
            self.unsupported.append(f"{el_id} ({tag}{detail})")
            return
        if tag == "startEvent":
            if not self._start_event(el, el_id, info, definitions, scope):
                return
        elif tag == "intermediateCatchEvent":
            if definitions == ["timer"]:
                info["kind"] = m.TIMER_CATCH
                info["timer"] = self._timer(el, el_id)
            elif definitions == ["message"]:
                info["kind"] = m.MESSAGE_CATCH
                info["message"] = self._message(el, el_id, el, required_key=True)
            elif definitions == ["signal"]:
                info["kind"] = m.SIGNAL_CATCH
                info["signal"] = self._signal(el, el_id)
            else:
                self._unsupported_event(el_id, tag, definitions or ["none"])
                return
        elif tag == "receiveTask":
            info["kind"] = m.MESSAGE_CATCH
            info["message"] = self._message(el, el_id, None, required_key=True)
        elif tag == "eventBasedGateway":
            info["kind"] = m.EVENT_GATEWAY
        elif tag == "callActivity":
            called = ext.get("calledElement")
            if not called or not called.get("processId"):
                self.problems.append(f"call activity {el_id} has no calledElement processId")
                return
            binding = called.get("bindingType") or "latest"
            if binding not in ("latest", "deployment"):
                self.problems.append(
                    f"call activity {el_id}: calledElement bindingType '{binding}' is not"
                    " supported (latest or deployment)"
                )
                return
            info["kind"] = m.CALL_ACTIVITY
            info["call"] = m.Call(
                process_id=compile_value(called["processId"], f"called element of {el_id}"),
                propagate_all_child=called.get("propagateAllChildVariables", "true") != "false",
                propagate_all_parent=called.get("propagateAllParentVariables", "true") != "false",
                binding=binding,
            )
        elif tag in ("endEvent", "intermediateThrowEvent") and definitions == ["message"]:
            # Zeebe: a message throw event with a task definition is a job, like a send task;
            # without one (ZenBPM: its type is empty) a job of NO_TASK_DEFINITION_JOB_TYPE.
            self._task(el_id, tag, info, ext)
        elif tag in ("endEvent", "intermediateThrowEvent") and definitions == ["escalation"]:
            info["kind"] = m.ESCALATION_THROW
            info["escalation_code"] = self._escalation_code(el, el_id, required=True)
        elif tag in ("endEvent", "intermediateThrowEvent") and definitions == ["signal"]:
            info["kind"] = m.SIGNAL_THROW
            info["signal"] = self._signal(el, el_id)
        elif tag == "endEvent":
            self._end_event(el, el_id, info, definitions)
        elif tag == "intermediateThrowEvent":
            if definitions:
                self._unsupported_event(el_id, tag, definitions)
                return
            info["kind"] = m.PASS
        elif tag == "boundaryEvent":
            info["attached_to"] = el.get("attachedToRef") or ""
            if definitions == ["error"]:
                info["kind"] = m.ERROR_BOUNDARY
                info["error_code"] = self._error_code(el, el_id)
            elif definitions == ["timer"]:
                info["kind"] = m.EVENT_BOUNDARY
                info["timer"] = self._timer(el, el_id)
                info["interrupting"] = el.get("cancelActivity", "true") != "false"
            elif definitions == ["message"]:
                info["kind"] = m.EVENT_BOUNDARY
                info["message"] = self._message(el, el_id, el, required_key=True)
                info["interrupting"] = el.get("cancelActivity", "true") != "false"
            elif definitions == ["signal"]:
                info["kind"] = m.EVENT_BOUNDARY
                info["signal"] = self._signal(el, el_id)
                info["interrupting"] = el.get("cancelActivity", "true") != "false"
            elif definitions == ["escalation"]:
                info["kind"] = m.ESCALATION_BOUNDARY
                info["escalation_code"] = self._escalation_code(el, el_id, required=False)
                info["interrupting"] = el.get("cancelActivity", "true") != "false"
            else:
                self._unsupported_event(el_id, tag, definitions or ["none"])
                return
        elif tag in ("task", "manualTask"):
            info["kind"] = m.PASS
        elif tag in JOB_TASKS:
            self._task(el_id, tag, info, ext)
        elif tag in ("exclusiveGateway", "parallelGateway", "inclusiveGateway"):
            info["kind"] = {
                "exclusiveGateway": m.EXCLUSIVE,
                "parallelGateway": m.PARALLEL,
                "inclusiveGateway": m.INCLUSIVE,
            }[tag]
            info["default_flow"] = el.get("default")
        elif tag == "subProcess":
            info["kind"] = m.SUB_PROCESS
            inner = self.walk(el, el_id)
            info["starts"] = inner.starts
            info["event_starts"] = tuple(inner.esp_starts)
            if el.get("triggeredByEvent") == "true":
                info["triggered_by_event"] = True
                info["starts"] = inner.event_starts
                if len(inner.event_starts) != 1 or inner.starts:
                    self.problems.append(
                        f"event sub-process {el_id} needs exactly one timer, message or error "
                        "start event"
                    )
                else:
                    scope.esp_starts.append(inner.event_starts[0])
            elif inner.event_starts:
                self.problems.append(f"sub-process {el_id} has a start event with a trigger")
        else:
            self.unsupported.append(f"{el_id} ({tag})")
            return
        if "kind" in info:
            self._mappings(el_id, info, ext)

    def _start_event(
        self,
        el: XmlElement,
        el_id: str,
        info: dict[str, Any],
        definitions: list[str],
        scope: _Scope,
    ) -> bool:
        """None, timer and message starts (process level), and event sub-process starts."""
        info["kind"] = m.START
        if not definitions:
            scope.starts.append(el_id)
            return True
        if definitions not in (["timer"], ["message"], ["error"], ["signal"], ["escalation"]):
            self._unsupported_event(el_id, "startEvent", definitions)
            return False
        kind = definitions[0]
        if kind == "timer":
            info["timer"] = self._timer(el, el_id)
        elif kind == "message":
            in_event_sub = scope.sub_process is not None
            info["message"] = self._message(el, el_id, el, required_key=in_event_sub)
        elif kind == "signal":
            info["signal"] = self._signal(el, el_id)
        elif kind == "escalation":
            if scope.sub_process is None:
                self._unsupported_event(el_id, "startEvent", definitions)
                return False
            info["escalation_start"] = True
            info["escalation_code"] = self._escalation_code(el, el_id, required=False)
        else:
            if scope.sub_process is None:
                self._unsupported_event(el_id, "startEvent", definitions)
                return False
            info["error_start"] = True
            info["error_code"] = self._error_code(el, el_id)
        info["interrupting"] = el.get("isInterrupting", "true") != "false"
        scope.event_starts.append(el_id)
        return True

    def _timer(self, el: XmlElement, el_id: str) -> m.Timer | None:
        for child in el:
            if _tag(child) != (BPMN_NS, "timerEventDefinition"):
                continue
            for part in child:
                ns, tag = _tag(part)
                kind = {"timeDate": m.TIMER_DATE, "timeDuration": m.TIMER_DURATION}.get(tag)
                kind = kind or (m.TIMER_CYCLE if tag == "timeCycle" else None)
                text = (part.text or "").strip()
                if ns == BPMN_NS and kind and text:
                    return m.Timer(kind, compile_value(text, f"timer of {el_id}"))
        self.problems.append(f"timer event {el_id} has no timeDate, timeDuration or timeCycle")
        return None

    def _escalation_code(self, el: XmlElement, el_id: str, required: bool) -> str | None:
        for child in el:
            if _tag(child) == (BPMN_NS, "escalationEventDefinition"):
                ref = child.get("escalationRef")
                if ref and ref not in self.escalations:
                    self.problems.append(f"{el_id} refers to unknown escalation {ref}")
                    return None
                code = self.escalations.get(ref or "") or None
                if code is None and required:
                    break
                return code  # a catching event without a code catches every escalation
        if required:
            self.problems.append(f"escalation throw event {el_id} has no escalationCode")
        return None

    def _signal(self, el: XmlElement, el_id: str) -> m.Expr | None:
        for child in el:
            if _tag(child) == (BPMN_NS, "signalEventDefinition"):
                ref = child.get("signalRef") or ""
                name = self.signals.get(ref)
                if name:
                    return compile_value(name, f"signal name of {el_id}")
        self.problems.append(f"{el_id} refers to no bpmn:signal with a name")
        return None

    def _message(
        self, el: XmlElement, el_id: str, holder: XmlElement | None, required_key: bool
    ) -> m.Message | None:
        """The message an event (its messageEventDefinition) or a receive task refers to."""
        ref = el.get("messageRef") if holder is None else None
        for child in holder if holder is not None else ():
            if _tag(child) == (BPMN_NS, "messageEventDefinition"):
                ref = child.get("messageRef")
        if not ref or ref not in self.messages:
            self.problems.append(f"{el_id} refers to no known bpmn:message")
            return None
        name, key = self.messages[ref]
        if not name:
            self.problems.append(f"message {ref} used by {el_id} has no name")
            return None
        if required_key and not key:
            self.problems.append(f"message {ref} used by {el_id} has no correlationKey")
            return None
        return m.Message(
            name=compile_value(name, f"message name of {el_id}"),
            correlation_key=compile_value(key, f"correlation key of {el_id}") if key else None,
        )

    def _loop(
        self, el: XmlElement, el_id: str, tag: str, info: dict[str, Any], ext: dict[str, Any]
    ) -> None:
        """zeebe:loopCharacteristics of a multiInstanceLoopCharacteristics element."""
        sequential = False
        condition = None
        loop_ext: dict[str, str] = {}
        for child in el:
            if _tag(child) != (BPMN_NS, "multiInstanceLoopCharacteristics"):
                continue
            sequential = child.get("isSequential") == "true"
            for part in child:
                ns, ptag = _tag(part)
                if ns == BPMN_NS and ptag == "completionCondition":
                    text = (part.text or "").strip()
                    if text:
                        condition = compile_value(
                            text if text.startswith("=") else "=" + text,
                            f"completion condition of {el_id}",
                        )
                elif ns == BPMN_NS and ptag == "extensionElements":
                    for inner in part:
                        ins, itag = _tag(inner)
                        if ins in EXTENSION_NS and itag == "loopCharacteristics":
                            loop_ext = dict(inner.attrib)
        source = loop_ext.get("inputCollection") or ""
        if not source:
            self.unsupported.append(f"{el_id} ({tag}/multiInstance without inputCollection)")
            return
        element_out = loop_ext.get("outputElement")
        info["loop"] = m.Loop(
            sequential=sequential,
            input_collection=compile_value(source, f"input collection of {el_id}"),
            input_element=loop_ext.get("inputElement") or None,
            output_collection=loop_ext.get("outputCollection") or None,
            output_element=(
                compile_value(element_out, f"output element of {el_id}") if element_out else None
            ),
            completion_condition=condition,
        )

    def _unsupported_event(self, el_id: str, tag: str, definitions: list[str]) -> None:
        self.unsupported.append(f"{el_id} ({tag}/{'+'.join(definitions)})")

    def _end_event(
        self, el: XmlElement, el_id: str, info: dict[str, Any], definitions: list[str]
    ) -> None:
        if not definitions:
            info["kind"] = m.END
        elif definitions == ["terminate"]:
            info["kind"] = m.TERMINATE_END
        elif definitions == ["error"]:
            info["kind"] = m.ERROR_END
            # Without an error code (no errorRef, or an error without errorCode) it throws an
            # error that only catch-all boundary events and event sub-processes catch (ZenBPM).
            info["error_code"] = self._error_code(el, el_id)
        else:
            self._unsupported_event(el_id, "endEvent", definitions)

    def _error_code(self, el: XmlElement, el_id: str) -> str | None:
        """The code of the event's error; None without one (a catching event without a code
        catches every error, a throwing one throws an error only those catch)."""
        for child in el:
            if _tag(child) == (BPMN_NS, "errorEventDefinition"):
                ref = child.get("errorRef")
                if not ref:
                    break
                if ref not in self.errors:
                    self.problems.append(f"{el_id} refers to unknown error {ref}")
                    return None
                return self.errors[ref] or None
        return None

    def _task(self, el_id: str, tag: str, info: dict[str, Any], ext: dict[str, Any]) -> None:
        definition = ext.get("taskDefinition")
        if definition is None and tag == "userTask":
            definition = {"type": USER_TASK_JOB_TYPE}
        if tag in UNTYPED_JOB_TASKS and not (definition or {}).get("type"):
            definition = {**(definition or {}), "type": NO_TASK_DEFINITION_JOB_TYPE}
        if definition is None and tag == "scriptTask" and "script" in ext:
            script = ext["script"]
            expression = script.get("expression") or ""
            target = script.get("resultVariable") or ""
            if not expression.startswith("=") or not target:
                self.unsupported.append(f"{el_id} (scriptTask/script without FEEL or result)")
                return
            info["kind"] = m.SCRIPT
            info["script"] = compile_value(expression, f"script of {el_id}")
            info["result_variable"] = target
            return
        if definition is None and tag == "businessRuleTask" and "calledDecision" in ext:
            self._called_decision(el_id, info, ext["calledDecision"])
            return
        if definition is None:
            detail = "calledDecision" if "calledDecision" in ext else "no taskDefinition"
            self.unsupported.append(f"{el_id} ({tag}/{detail})")
            return
        job_type = definition.get("type") or ""
        problem = None if job_type.startswith("=") else name_problem(job_type, "job type")
        if problem:
            self.problems.append(f"task {el_id}: {problem}")
            return
        retries = definition.get("retries") or DEFAULT_RETRIES
        info["kind"] = m.JOB_TASK
        info["task"] = m.TaskDefinition(
            job_type=compile_value(job_type, f"job type of {el_id}"),
            retries=compile_value(retries, f"retries of {el_id}"),
            headers=tuple(ext.get("headers", ())),
        )

    def _called_decision(self, el_id: str, info: dict[str, Any], called: dict[str, str]) -> None:
        decision_id = called.get("decisionId") or ""
        target = called.get("resultVariable") or ""
        binding = called.get("bindingType") or "latest"
        version_tag = called.get("versionTag") or None
        if not decision_id or not target:
            self.problems.append(f"{el_id}: calledDecision needs decisionId and resultVariable")
            return
        if binding not in ("latest", "deployment", "versionTag"):
            self.problems.append(f"{el_id}: calledDecision bindingType '{binding}' is unknown")
            return
        if binding == "versionTag" and not version_tag:
            self.problems.append(f"{el_id}: calledDecision binding versionTag needs a versionTag")
            return
        info["kind"] = m.BUSINESS_RULE
        info["decision"] = m.DecisionCall(
            compile_value(decision_id, f"decisionId of {el_id}"), binding, version_tag
        )
        info["result_variable"] = target

    def _mappings(self, el_id: str, info: dict[str, Any], ext: dict[str, Any]) -> None:
        for direction in ("inputs", "outputs"):
            entries = []
            for source, target in ext.get(direction, ()):
                if not target:
                    self.problems.append(f"{el_id} has an {direction[:-1]} mapping without target")
                    continue
                if source is None:  # ZenBPM: the target is set to null
                    entries.append(m.Mapping(None, target))
                    continue
                entries.append(
                    m.Mapping(compile_value(source, f"{direction[:-1]} mapping of {el_id}"), target)
                )
            info[direction] = tuple(entries)

    # -------------------------------------------------------------- freezing the model

    def build(self, process: XmlElement) -> m.Process | None:
        """The frozen process, or None when it uses unsupported elements (then listed in
        `self.unsupported`, so the caller can report those of every process at once)."""
        process_id = process.get("id") or ""
        top = self.walk(process, None)
        if self.unsupported:
            return None
        self._check_structure(top)
        if self.problems:
            raise BadRequest(f"invalid process {process_id}: " + "; ".join(self.problems))
        incoming: dict[str, list[str]] = {el_id: [] for el_id in self.raw}
        outgoing: dict[str, list[str]] = {el_id: [] for el_id in self.raw}
        for flow in self.flows.values():
            outgoing[flow.source].append(flow.id)
            incoming[flow.target].append(flow.id)
        boundaries: dict[str, list[str]] = {}
        for info in self.raw.values():
            if info.get("kind") in (m.ERROR_BOUNDARY, m.EVENT_BOUNDARY, m.ESCALATION_BOUNDARY):
                boundaries.setdefault(info["attached_to"], []).append(info["id"])
        self._resolve_links(incoming)
        if self.problems:
            raise BadRequest(f"invalid process {process_id}: " + "; ".join(self.problems))
        elements = {}
        for el_id, info in self.raw.items():
            starts = info.pop("starts", None)
            elements[el_id] = m.Element(
                incoming=tuple(incoming[el_id]),
                outgoing=tuple(outgoing[el_id]),
                boundaries=tuple(boundaries.get(el_id, ())),
                start=starts[0] if starts else None,
                **info,
            )
        upstream = _inclusive_upstream(elements, self.flows)
        return m.Process(
            bpmn_process_id=process_id,
            name=process.get("name") or "",
            start=top.starts[0] if top.starts else None,
            elements=elements,
            flows=dict(self.flows),
            upstream=upstream,
            timer_starts=tuple(e for e in top.event_starts if elements[e].timer is not None),
            message_starts=tuple(e for e in top.event_starts if elements[e].message is not None),
            signal_starts=tuple(e for e in top.event_starts if elements[e].signal is not None),
            event_starts=tuple(top.esp_starts),
        )

    def _resolve_links(self, incoming: dict[str, list[str]]) -> None:
        """Each link throw jumps to the one catch event with its name in the same scope."""
        catches: dict[tuple[str | None, str], list[str]] = {}
        for info in self.raw.values():
            if info.get("link") and info["kind"] == m.PASS:
                catches.setdefault((info["scope"], info["link"]), []).append(info["id"])
                if incoming[info["id"]]:
                    self.problems.append(f"link catch event {info['id']} has incoming flows")
        for info in self.raw.values():
            if info.get("kind") != m.LINK_THROW:
                continue
            found = catches.get((info["scope"], info["link"]), [])
            if len(found) != 1:
                self.problems.append(
                    f"link throw event {info['id']} needs exactly one catch event named "
                    f"'{info['link']}' in its scope, found {len(found)}"
                )
            else:
                info["link_target"] = found[0]

    def _check_structure(self, top: _Scope) -> None:
        problems = self.problems
        for scope in self.scopes:
            where = f"sub-process {scope.sub_process}" if scope.sub_process else "the process"
            event_sub = scope.sub_process is not None and bool(
                self.raw.get(scope.sub_process, {}).get("triggered_by_event")
            )
            if event_sub:
                continue  # checked where the event sub-process is read
            if scope.sub_process is None and not scope.starts and scope.event_starts:
                continue  # a process started only by timers or messages
            if not scope.starts:
                problems.append(f"{where} has no none start event")
            elif len(scope.starts) > 1:
                problems.append(f"{where} has more than one none start event")
        for flow in self.flows.values():
            flow_scope = self.flow_scope[flow.id]
            for end, ref in (("source", flow.source), ("target", flow.target)):
                info = self.raw.get(ref)
                if info is None:
                    problems.append(f"sequence flow {flow.id} has unknown {end} '{ref}'")
                elif info["scope"] != flow_scope:
                    problems.append(f"sequence flow {flow.id} crosses a sub-process boundary")
            source = self.raw.get(flow.source)
            if (
                flow.condition is not None
                and source is not None
                and source.get("kind") not in (m.EXCLUSIVE, m.INCLUSIVE, m.PARALLEL)
            ):
                problems.append(f"sequence flow {flow.id} has a condition but leaves no gateway")
        targets = {flow.target for flow in self.flows.values()}
        for info in self.raw.values():
            kind = info.get("kind")
            if kind == m.START and info["id"] in targets:
                problems.append(f"start event {info['id']} has incoming flows")
            if kind == m.EVENT_GATEWAY:
                self._check_event_gateway(info)
            if kind in (m.ERROR_BOUNDARY, m.EVENT_BOUNDARY, m.ESCALATION_BOUNDARY):
                host = self.raw.get(info["attached_to"])
                if host is None or host["scope"] != info["scope"]:
                    problems.append(f"boundary event {info['id']} is not attached to an activity")
                elif host.get("kind") not in ACTIVITIES:
                    problems.append(f"boundary event {info['id']} is attached to a non-activity")
                if info["id"] in targets:
                    problems.append(f"boundary event {info['id']} has incoming flows")
            default = info.get("default_flow")
            if default:
                default_flow = self.flows.get(default)
                if default_flow is None or default_flow.source != info["id"]:
                    problems.append(
                        f"default flow {default} of {info['id']} is not one of its outgoing flows"
                    )

    def _check_event_gateway(self, info: dict[str, Any]) -> None:
        targets = [f.target for f in self.flows.values() if f.source == info["id"]]
        if len(targets) < 2:
            self.problems.append(f"event-based gateway {info['id']} needs two outgoing flows")
        for target in targets:
            kind = self.raw.get(target, {}).get("kind")
            if kind not in (m.TIMER_CATCH, m.MESSAGE_CATCH, m.SIGNAL_CATCH):
                self.problems.append(
                    f"event-based gateway {info['id']} leads to {target}, which is not a timer, "
                    "message or signal catch event"
                )


ACTIVITIES = frozenset(
    {m.JOB_TASK, m.SUB_PROCESS, m.PASS, m.SCRIPT, m.BUSINESS_RULE, m.CALL_ACTIVITY, m.MESSAGE_CATCH}
)


def _event_definitions(el: XmlElement) -> list[str]:
    kinds = []
    for child in el:
        ns, tag = _tag(child)
        if ns == BPMN_NS and tag.endswith("EventDefinition"):
            kinds.append(tag[: -len("EventDefinition")])
        elif ns == BPMN_NS and tag == "eventDefinitionRef":
            kinds.append("referenced")
    return kinds


def _correlation_key(message: XmlElement) -> str | None:
    """The zeebe:subscription correlationKey of a bpmn:message, if any."""
    for child in message:
        if _tag(child) != (BPMN_NS, "extensionElements"):
            continue
        for ext in child:
            ns, tag = _tag(ext)
            if ns in EXTENSION_NS and tag == "subscription":
                return ext.get("correlationKey") or None
    return None


def _link_name(el: XmlElement) -> str:
    for child in el:
        if _tag(child) == (BPMN_NS, "linkEventDefinition"):
            return child.get("name") or ""
    return ""


def _loop_kind(el: XmlElement) -> str | None:
    for child in el:
        ns, tag = _tag(child)
        if ns == BPMN_NS and tag == "multiInstanceLoopCharacteristics":
            return "multiInstance"
        if ns == BPMN_NS and tag == "standardLoopCharacteristics":
            return "loop"
    return None


def _extensions(el: XmlElement) -> dict[str, Any]:
    """The zeebe/zenbpm extension elements of one BPMN element, in a plain dict."""
    out: dict[str, Any] = {}
    for child in el:
        if _tag(child) != (BPMN_NS, "extensionElements"):
            continue
        for ext in child:
            ns, tag = _tag(ext)
            if ns not in EXTENSION_NS:
                continue
            if tag == "taskDefinition":
                out["taskDefinition"] = dict(ext.attrib)
            elif tag == "ioMapping":
                for mapping in ext:
                    mns, mtag = _tag(mapping)
                    if mns in EXTENSION_NS and mtag in ("input", "output"):
                        out.setdefault(mtag + "s", []).append(
                            (mapping.get("source"), mapping.get("target") or "")
                        )
            elif tag == "taskHeaders":
                for header in ext:
                    key = header.get("key")
                    if key is not None:
                        out.setdefault("headers", []).append((key, header.get("value") or ""))
            elif tag == "script":
                out["script"] = dict(ext.attrib)
            elif tag == "calledDecision":
                out["calledDecision"] = dict(ext.attrib)
            elif tag == "calledElement":
                out["calledElement"] = dict(ext.attrib)
    return out


def _inclusive_upstream(
    elements: dict[str, m.Element], flows: dict[str, m.Flow]
) -> dict[str, dict[str, frozenset[str]]]:
    """For each inclusive join and incoming flow: elements that can still send a token there.

    Walks the flows backwards from the flow's source within the scope, not through the join
    itself, and treats a boundary event as reachable from the activity it is attached to.
    """
    result: dict[str, dict[str, frozenset[str]]] = {}
    link_sources: dict[str, list[str]] = {}  # a link catch event is reached from its throws
    for element in elements.values():
        if element.link_target:
            link_sources.setdefault(element.link_target, []).append(element.id)
    steps = 0
    for gateway in elements.values():
        if gateway.kind != m.INCLUSIVE or len(gateway.incoming) < 2:
            continue
        per_flow = {}
        for flow_id in gateway.incoming:
            seen = {flows[flow_id].source}
            queue = deque(seen)
            while queue:
                steps += 1
                if steps > INCLUSIVE_ANALYSIS_STEPS_MAX:
                    raise BadRequest("the inclusive gateways of this process are too complex")
                current = elements[queue.popleft()]
                predecessors = [flows[f].source for f in current.incoming]
                if current.attached_to:
                    predecessors.append(current.attached_to)
                predecessors.extend(link_sources.get(current.id, ()))
                for pred in predecessors:
                    if pred not in seen and pred != gateway.id:
                        seen.add(pred)
                        queue.append(pred)
            per_flow[flow_id] = frozenset(seen)
        result[gateway.id] = per_flow
    return result


def parse_definitions(data: bytes) -> m.Definitions:
    """Parse and validate a BPMN document; raises BadRequest / TooLarge."""
    root = parse_xml(data)
    if _tag(root) != (BPMN_NS, "definitions"):
        raise BadRequest("not a BPMN 2.0 document: the root is not bpmn:definitions")
    errors = {}
    messages: dict[str, tuple[str, str | None]] = {}
    signals: dict[str, str] = {}
    escalations: dict[str, str] = {}
    for child in root:
        if _tag(child) == (BPMN_NS, "escalation") and child.get("id"):
            escalations[child.get("id") or ""] = child.get("escalationCode") or ""
        if _tag(child) == (BPMN_NS, "signal") and child.get("id"):
            signals[child.get("id") or ""] = child.get("name") or ""
        if _tag(child) == (BPMN_NS, "error") and child.get("id"):
            errors[child.get("id") or ""] = child.get("errorCode") or ""
        if _tag(child) == (BPMN_NS, "message") and child.get("id"):
            messages[child.get("id") or ""] = (child.get("name") or "", _correlation_key(child))
    processes = [c for c in root if _tag(c) == (BPMN_NS, "process")]
    executable = [p for p in processes if p.get("isExecutable") == "true"]
    chosen = executable or processes
    if not chosen:
        raise BadRequest("the BPMN document has no process")
    unsupported: list[str] = []
    warnings: list[str] = []
    built = []
    seen_ids: set[str] = set()
    for process in chosen:
        process_id = process.get("id") or ""
        problem = name_problem(process_id, "process id")
        if problem:
            raise BadRequest(problem)
        if process_id in seen_ids:
            raise BadRequest(f"duplicate process id {process_id}")
        seen_ids.add(process_id)
        builder = _Builder(errors, messages, signals, escalations)
        result = builder.build(process)
        unsupported.extend(builder.unsupported)
        warnings.extend(f"process {process_id}: {w}" for w in builder.warnings)
        if result is not None:
            built.append(result)
    if unsupported:
        raise BadRequest("unsupported elements: " + ", ".join(unsupported))
    return m.Definitions(tuple(built), tuple(warnings))
