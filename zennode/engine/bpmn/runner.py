"""Moves the tokens of one process instance until every token waits or the instance ends.

The runner owns the shared behaviour every element family uses (taking flows, element
instances, incidents, terminating scopes, throwing errors). What an element does when a token
reaches it lives in the family modules (`tasks`, `gateways`, `events`, `sub_process`), picked
by `Element.kind` from `ACTIVATE`.

Runtime state of an instance lives in its record (one read and one write per command):
`elements` holds the element instances that wait (jobs, sub-processes, incidents) keyed by
their key as text, `joins` the tokens that arrived at a joining gateway, per scope.

Variables follow Zeebe's scopes (`zennode.engine.scopes`): the instance is the root scope and
every element instance a scope nested in the one it runs in. Input mappings make an element's
local variables; when it completes, its output mappings are evaluated in its scope and
propagated from the scope it runs in, or, without output mappings, the variables it completed
with (job, message, signal, child instance, error) propagate from the element itself (`finish`).
The inner activity of a multi-instance body keeps its locals in its iteration, which is
Zeebe's "inner instance": the output element sees them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from zennode.engine import history, records, retention, scopes, search, state
from zennode.engine import model as m
from zennode.engine.bpmn import waits
from zennode.engine.context import Context
from zennode.engine.expressions import ExpressionFailed
from zennode.engine.variables import evaluate_mappings

# Incident error types (Zeebe's names where Zeebe has one).
JOB_NO_RETRIES = "JOB_NO_RETRIES"
UNHANDLED_ERROR_EVENT = "UNHANDLED_ERROR_EVENT"
EXTRACT_VALUE_ERROR = "EXTRACT_VALUE_ERROR"
CONDITION_ERROR = "CONDITION_ERROR"
IO_MAPPING_ERROR = "IO_MAPPING_ERROR"
ACTIVATION_LIMIT = "ACTIVATION_LIMIT_EXCEEDED"
CALLED_ELEMENT_ERROR = "CALLED_ELEMENT_ERROR"
CALLED_DECISION_ERROR = "CALLED_DECISION_ERROR"  # no deployed decision matches the call
DECISION_EVALUATION_ERROR = "DECISION_EVALUATION_ERROR"  # the decision failed (a FEEL error)

EI_ACTIVE = "active"
EI_INCIDENT = "incident"

# (element id, scope key, incoming flow id, variables it was triggered with: a message, a
# signal, a thrown error... None for a token that arrived along a flow)
Token = tuple[str, int, str | None, dict[str, Any] | None]


class Runner:
    def __init__(self, ctx: Context, process: m.Process, instance: dict[str, Any]) -> None:
        self.ctx = ctx
        self.process = process
        self.instance = instance
        self.key: int = instance["processInstanceKey"]
        self.variables: dict[str, Any] = instance["variables"]
        self.elements: dict[str, dict[str, Any]] = instance["elements"]
        self.joins: dict[str, dict[str, int]] = instance["joins"]
        self.queue: deque[Token] = deque()
        self.dirty: dict[int, None] = {}  # scopes that lost a token: maybe complete now
        # element id -> [completed, terminated] since the last save (definition statistics)
        self.ended: dict[str, list[int]] = {}
        self.steps = 0
        self.running = False
        self._trigger: dict[str, Any] | None = None  # of the token being activated
        self.created = 0  # element instances created by this runner (history of passes)
        self.notes: list[history.Entry] = []  # history of this step, written by `save`
        self.joined = False  # the token being activated waits at a joining gateway
        ctx.runners[self.key] = self  # one runner per instance per command (call activities)

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Process queued tokens, then inclusive joins and finished scopes, until quiet.

        Bounded: every activation counts against `ctx.activations_max`; past it, the waiting
        tokens stop at an incident instead of looping forever.
        """
        activate, fire_ready_inclusive_joins, activate_body = _behaviours()
        self.running = True  # (an exception ends the command and drops this runner anyway)
        while True:
            if self.queue:
                if self.steps >= self.ctx.activations_max:
                    self._stop_at_limit()
                    continue
                self.steps += 1
                element_id, scope, flow, self._trigger = self.queue.popleft()
                element = self.process.elements[element_id]
                created, self.joined = self.created, False
                if element.loop is not None and not self.is_iteration_of(scope, element.id):
                    activate_body(self, element, scope, flow)
                else:
                    activate[element.kind](self, element, scope, flow)
                if self.created == created and not self.joined:
                    self.record_pass(element, scope)
            elif self.joins and fire_ready_inclusive_joins(self):
                continue
            elif self.dirty:
                scope = next(iter(self.dirty))
                del self.dirty[scope]
                if self.scope_is_empty(scope):
                    self._complete_scope(scope)
            else:
                self.running = False
                return

    def record_pass(self, element: m.Element, scope: int) -> None:
        """A token passed `element` without waiting: its history row starts and ends now."""
        record = {"elementId": element.id, "elementType": element.bpmn_type, "scope": scope}
        history.started(self.notes, self.ctx.next_key(), record, self.ctx.now_ms, history.COMPLETED)

    def context(self, scope: int) -> dict[str, Any]:
        """The variables an expression in `scope` sees (do not mutate it)."""
        if scope == self.key:
            return self.variables  # the common case: no local scope to overlay
        return scopes.visible(self.instance, scope)

    # ------------------------------------------------------------------ variables

    def merge(self, scope: int, variables: dict[str, Any]) -> None:
        """Propagate `variables` from `scope` outwards (Zeebe's merge)."""
        scopes.merge(self.instance, scope, variables)

    def set_locals(self, scope: int, variables: dict[str, Any]) -> None:
        scopes.set_local(self.instance, scope, variables)

    def is_inner(self, element: m.Element, scope: int) -> bool:
        """`element` runs as the inner activity of its multi-instance body (in `scope`)."""
        return element.loop is not None and self.is_iteration_of(scope, element.id)

    def inputs(self, element: m.Element, scope: int) -> dict[str, Any]:
        """The element's input mappings evaluated in the scope it runs in (its new locals)."""
        if not element.inputs:
            return {}
        return evaluate_mappings(element.inputs, self.context(scope))

    def keep_locals(self, element: m.Element, scope: int, key: int, local: dict[str, Any]) -> None:
        """Store an element's input-mapped locals: in its element instance `key`, or, for the
        inner activity of a multi-instance body, in its iteration (Zeebe's inner instance)."""
        if local:
            self.set_locals(scope if self.is_inner(element, scope) else key, local)

    def finish(
        self,
        element: m.Element,
        scope: int,
        holder: int,
        trigger: dict[str, Any],
        overlay: dict[str, Any] | None = None,
    ) -> None:
        """Zeebe's completion of `element` running in `scope` (raises ExpressionFailed before
        changing anything but the inner iteration's locals).

        `holder` is the innermost scope that holds the element's locals: its element instance,
        or `scope` when it has none of its own. `overlay` are locals the output mappings see
        over the stored ones: with `holder == scope` they are the locals the element held only
        while it ran (a name among them absorbs a trigger variable, as a stored local would).
        With output mappings, `trigger` (the variables it completed with) is local to the
        element and the mappings' results propagate from `scope`. Without, `trigger`
        propagates from the element itself: a name the element holds locally stays there.
        """
        if element.outputs:
            if trigger and self.is_inner(element, scope):
                self.set_locals(scope, trigger)  # the output element sees them (Zeebe)
            context = self.context(holder)
            if overlay or trigger:
                context = {**context, **(overlay or {}), **trigger}
            self.merge(scope, evaluate_mappings(element.outputs, context))
        elif trigger:
            if overlay and holder == scope:
                trigger = {k: v for k, v in trigger.items() if k not in overlay}
            self.merge(holder, trigger)

    def complete_element(
        self, key: int, trigger: dict[str, Any], overlay: dict[str, Any] | None = None
    ) -> bool:
        """The element instance `key` is done: apply `finish`, remove it, move its token on.

        A failing output mapping leaves it at an IO_MAPPING_ERROR incident; resolving it
        completes it again with the same variables. Returns whether it completed."""
        record = self.elements[str(key)]
        element = self.process.elements[record["elementId"]]
        try:
            self.finish(element, record["scope"], key, trigger, overlay)
        except ExpressionFailed as exc:
            record["retry"] = "complete"
            record["completion"] = trigger
            if overlay:
                record["local"] = overlay
            self.open_incident(key, element.id, IO_MAPPING_ERROR, exc.message)
            return False
        self.remove_element_instance(key)
        self.leave(element, record["scope"])
        return True

    def is_iteration_of(self, scope: int, element_id: str) -> bool:
        record = self.elements.get(str(scope))
        return (
            record is not None
            and bool(record.get("iteration"))
            and (record["elementId"] == element_id)
        )

    def owner(self, key: int) -> dict[str, Any] | None:
        """The record that holds timers / subscriptions: an element instance or the instance."""
        return self.instance if key == self.key else self.elements.get(str(key))

    # ------------------------------------------------------------------ waits

    def boundary_events(self, element: m.Element, scope: int) -> list[m.Element]:
        """Timer / message boundary events to open when `element` activates in `scope`."""
        if not element.boundaries:
            return []
        if element.loop is not None and self.is_iteration_of(scope, element.id):
            return []  # they sit on the multi-instance body
        elements = self.process.elements
        return [elements[b] for b in element.boundaries if elements[b].kind == m.EVENT_BOUNDARY]

    def event_sub_starts(self, starts: tuple[str, ...]) -> list[m.Element]:
        """Timer / message start events of a scope's event sub-processes."""
        if not starts:
            return []
        elements = self.process.elements
        return [
            elements[s]
            for s in starts
            if not elements[s].error_start and not elements[s].escalation_start
        ]

    def prepare_waits(self, events: list[m.Element], scope: int) -> list[waits.Prepared]:
        if not events:
            return []
        return waits.prepare(events, self.context(scope), self.ctx.now_ms)

    def open_waits(self, owner_key: int, prepared: list[waits.Prepared]) -> None:
        if not prepared:
            return
        owner = self.owner(owner_key)
        assert owner is not None, f"no owner {owner_key} for timers / subscriptions"
        waits.open_prepared(self.ctx, self.instance, owner_key, owner, prepared, self.process)

    def save(self) -> None:
        history.flush(self.ctx, self.instance, self.notes)
        state.put_instance(self.ctx, self.instance, self.ended)
        self.ended = {}

    def _count_ended(self, element_id: str, slot: int) -> None:
        self.ended.setdefault(element_id, [0, 0])[slot] += 1

    # ------------------------------------------------------------------ tokens

    def enqueue(
        self,
        element_id: str,
        scope: int,
        flow: str | None,
        trigger: dict[str, Any] | None = None,
    ) -> None:
        self.queue.append((element_id, scope, flow, trigger))

    def take(self, flow_ids: tuple[str, ...] | list[str], scope: int) -> None:
        flows = self.process.flows
        for flow_id in flow_ids:
            self.enqueue(flows[flow_id].target, scope, flow_id)

    def leave(self, element: m.Element, scope: int) -> None:
        """The token leaves `element`: along every outgoing flow, or it is consumed."""
        if element.loop is not None and self.is_iteration_of(scope, element.id):
            from zennode.engine.bpmn.multi_instance import iteration_done

            self._count_ended(element.id, 0)  # a run completed (its body is not counted)
            iteration_done(self, element, scope)
            return
        if element.loop is None:
            self._count_ended(element.id, 0)
        if element.outgoing:
            self.take(element.outgoing, scope)
        else:
            self.dirty[scope] = None

    def pass_through(
        self,
        element: m.Element,
        scope: int,
        flow: str | None,
        trigger: dict[str, Any] | None = None,
    ) -> None:
        """Apply the element's mappings (and the variables of the token's trigger) and leave
        at once; `trigger` None means the variables the token was enqueued with."""
        if self.apply_mappings(element, scope, flow, trigger):
            self.leave(element, scope)

    def apply_mappings(
        self,
        element: m.Element,
        scope: int,
        flow: str | None,
        trigger: dict[str, Any] | None = None,
        retry: str | None = None,
    ) -> bool:
        """Mappings of an element that has no element instance of its own: its input-mapped
        locals live while it runs (in its iteration, for the inner activity of a
        multi-instance body), then `finish`. False: stopped at an IO_MAPPING_ERROR incident,
        whose resolution activates the element again (`retry="pass"`: passes it again, for an
        event whose trigger already happened)."""
        if trigger is None:
            trigger, self._trigger = self._trigger or {}, None
        if not (element.inputs or element.outputs or trigger):
            return True
        try:
            local = self.inputs(element, scope)
            if self.is_inner(element, scope):
                self.set_locals(scope, local)
                self.finish(element, scope, scope, trigger)
            else:
                self.finish(element, scope, scope, trigger, overlay=local)
        except ExpressionFailed as exc:
            extra: dict[str, Any] = {"trigger": trigger} if trigger else {}
            if retry:
                extra["retry"] = retry
            self.incident_at(element, scope, flow, IO_MAPPING_ERROR, exc.message, **extra)
            return False
        return True

    # ------------------------------------------------------------------ element instances

    def new_element_instance(
        self, element: m.Element, scope: int, status: str = EI_ACTIVE, **extra: Any
    ) -> int:
        key = self.ctx.next_key()
        record = {
            "elementId": element.id,
            "elementType": element.bpmn_type,
            "state": status,
            "scope": scope,
        }
        record.update(extra)
        self.elements[str(key)] = record
        self.ctx.db.put("index", records.element_instance_key(key), records.u64(self.key))
        self.created += 1
        history.started(self.notes, key, record, self.ctx.now_ms)
        return key

    def drop_element_instance(
        self, key: int, end_state: str = history.TERMINATED
    ) -> dict[str, Any] | None:
        """Forget an element instance (and its index entry); None if it is not there.
        `end_state` is what its history row says: terminated, or completed."""
        record = self.elements.pop(str(key), None)
        if record is not None:
            self.ctx.db.delete("index", records.element_instance_key(key))
            history.ended(self.notes, key, end_state, self.ctx.now_ms)
            if "timers" in record or "subs" in record:
                waits.close_waits(self.ctx, record)
        return record

    def remove_element_instance(self, key: int) -> dict[str, Any]:
        """The element instance completed: its scope may be done now."""
        record = self.drop_element_instance(key, history.COMPLETED)
        assert record is not None, f"element instance {key} is not active"
        self.dirty[record["scope"]] = None
        return record

    # ------------------------------------------------------------------ incidents

    def incident_at(
        self,
        element: m.Element,
        scope: int,
        flow: str | None,
        error_type: str,
        message: str,
        **extra: Any,
    ) -> int:
        """Stop a token at `element` with an incident; resolving it activates the element again
        (`extra` is kept on the element instance: the token's `trigger`, a `retry` mode)."""
        ei_key = self.new_element_instance(element, scope, EI_INCIDENT, flow=flow, **extra)
        return self.open_incident(ei_key, element.id, error_type, message)

    def open_incident(
        self,
        ei_key: int,
        element_id: str,
        error_type: str,
        message: str,
        job_key: int | None = None,
        more: list[int] | None = None,
    ) -> int:
        ctx = self.ctx
        key = ctx.next_key()
        incident: dict[str, Any] = {
            "key": key,
            "processInstanceKey": self.key,
            "processDefinitionKey": self.instance["processDefinitionKey"],
            "bpmnProcessId": self.instance["bpmnProcessId"],
            "elementInstanceKey": ei_key,
            "elementId": element_id,
            "errorType": error_type,
            "message": message,
            "state": state.INCIDENT_ACTIVE,
            "createdAt": ctx.now_ms,
        }
        if job_key is not None:
            incident["jobKey"] = job_key
        if more:
            incident["moreElementInstanceKeys"] = more
        state.put_incident(ctx, incident, new=True)
        record = self.elements[str(ei_key)]
        record["state"] = EI_INCIDENT
        record["incidentKey"] = key
        for other in more or ():
            self.elements[str(other)]["incidentKey"] = key
        self.instance["incidents"] += 1
        ctx.emit(
            "incident_created",
            incidentKey=key,
            processInstanceKey=self.key,
            elementInstanceKey=ei_key,
            elementId=element_id,
            errorType=error_type,
            jobKey=job_key,
        )
        return key

    def close_incident(self, incident_key: int) -> None:
        incident = state.get_incident(self.ctx.db, incident_key)
        if incident is None or incident["state"] != state.INCIDENT_ACTIVE:
            return
        incident["state"] = state.INCIDENT_RESOLVED
        incident["resolvedAt"] = self.ctx.now_ms
        state.put_incident(self.ctx, incident, new=False)
        self.instance["incidents"] -= 1
        self.ctx.emit(
            "incident_resolved",
            incidentKey=incident_key,
            processInstanceKey=self.key,
            elementInstanceKey=incident["elementInstanceKey"],
            jobKey=incident.get("jobKey"),
        )

    def _stop_at_limit(self) -> None:
        """Park every queued token at its element under one incident (endless loop guard)."""
        keys = []
        first_element = None
        while self.queue:
            element_id, scope, flow, trigger = self.queue.popleft()
            element = self.process.elements[element_id]
            first_element = first_element or element
            extra = {"trigger": trigger} if trigger else {}
            keys.append(self.new_element_instance(element, scope, EI_INCIDENT, flow=flow, **extra))
        assert first_element is not None
        self.open_incident(
            keys[0],
            first_element.id,
            ACTIVATION_LIMIT,
            f"more than {self.ctx.activations_max} element activations in one command "
            "(a loop without a wait state?)",
            more=keys[1:],
        )

    # ------------------------------------------------------------------ jobs

    def finish_job(
        self,
        job_key: int,
        job_state: str,
        event: str | None,
        job: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Move a job to a final state (completed / terminated), keeping indexes in step.

        `job` is the stored record when the caller already loaded it (saves a read).
        """
        job = job if job is not None else state.get_job(self.ctx.db, job_key)
        if job is None or job["state"] in (state.JOB_COMPLETED, state.JOB_TERMINATED):
            return
        previous = dict(job)
        job["state"] = job_state
        job.pop("deadline", None)
        job.pop("worker", None)
        job.update(fields)
        state.put_job(self.ctx, job, previous)
        if event:
            self.ctx.emit(
                event,
                jobKey=job_key,
                type=job["type"],
                processInstanceKey=self.key,
                createdAt=job.get("createdAt"),  # for the job lifetime metric
                **fields,
            )

    # ------------------------------------------------------------------ scopes

    def scope_is_empty(self, scope: int) -> bool:
        """No element instance, join token or queued token is left in `scope` (which exists)."""
        if scope != self.key and str(scope) not in self.elements:
            return False  # the scope itself was terminated meanwhile
        if self.instance["state"] != state.INSTANCE_ACTIVE:
            return False
        for record in self.elements.values():
            if record["scope"] == scope:
                return False
        if any(token[1] == scope for token in self.queue):
            return False
        prefix = f"{scope}|"
        return not any(k.startswith(prefix) for k in self.joins)

    def _complete_scope(self, scope: int) -> None:
        if scope == self.key:
            self.complete_instance()
            return
        record = self.elements[str(scope)]
        if record.get("mi") or record.get("iteration"):
            return  # multi-instance bodies complete through their iterations
        from zennode.engine.bpmn.sub_process import complete_sub_process

        complete_sub_process(self, scope)

    def _end_waits(self) -> None:
        """The instance ends: close its own waits and free its message-start correlation key."""
        if "timers" in self.instance or "subs" in self.instance:
            waits.close_waits(self.ctx, self.instance)
        key = self.instance.get("startCorrelationKey")
        if key:
            row = records.message_started_key(self.instance["bpmnProcessId"], key)
            self.ctx.db.delete("index", row)

    def complete_instance(self) -> None:
        self._end_waits()
        self.instance["state"] = state.INSTANCE_COMPLETED
        self.instance["endedAt"] = self.ctx.now_ms
        retention.instance_ended(self.ctx, self.instance)
        self.ctx.emit(
            "instance_completed",
            processInstanceKey=self.key,
            processDefinitionKey=self.instance["processDefinitionKey"],
            bpmnProcessId=self.instance["bpmnProcessId"],
            createdAt=self.instance.get("createdAt"),  # instance duration metric
            endedAt=self.ctx.now_ms,
        )
        if self.instance.get("parent"):
            from zennode.engine.bpmn.call_activity import child_completed

            child_completed(self)

    def terminate_instance(self) -> None:
        """End every token and the instance itself (cancel, or its parent was interrupted)."""
        self.terminate_within(self.key)
        self._end_waits()
        self.instance["state"] = state.INSTANCE_TERMINATED
        self.instance["endedAt"] = self.ctx.now_ms
        retention.instance_ended(self.ctx, self.instance)
        self.ctx.emit(
            "instance_terminated",
            processInstanceKey=self.key,
            processDefinitionKey=self.instance["processDefinitionKey"],
            bpmnProcessId=self.instance["bpmnProcessId"],
        )

    def scopes_within(self, scope: int) -> set[int]:
        """`scope` and every scope nested in it (sub-processes, multi-instance bodies)."""
        children: dict[int, list[int]] = {}
        for key_text, record in self.elements.items():
            children.setdefault(record["scope"], []).append(int(key_text))
        scopes = {scope}
        stack = [scope]
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in scopes and child in children:
                    scopes.add(child)
                    stack.append(child)
        return scopes

    def terminate_within(self, scope: int) -> None:
        """End every token inside `scope` (not the scope itself): jobs, incidents, joins, queue."""
        scopes = self.scopes_within(scope)
        for key_text in [k for k, r in self.elements.items() if r["scope"] in scopes]:
            self.terminate_element_instance(int(key_text))
        for join_key in [k for k in self.joins if int(k.split("|", 1)[0]) in scopes]:
            del self.joins[join_key]
        if self.queue:
            self.queue = deque(t for t in self.queue if t[1] not in scopes)
        for inner in scopes - {scope}:
            self.dirty.pop(inner, None)

    def terminate_element_instance(self, key: int) -> None:
        record = self.drop_element_instance(key)
        if record is None:
            return
        if record["elementType"] not in search.NOT_TOKENS:
            self._count_ended(record["elementId"], 1)
        job_key = record.get("jobKey")
        if job_key is not None:
            self.finish_job(job_key, state.JOB_TERMINATED, "job_terminated")
        child_key = record.get("childKey")
        if child_key is not None:
            from zennode.engine.bpmn.call_activity import terminate_child

            terminate_child(self, child_key)
        incident_key = record.get("incidentKey")
        shared = incident_key is not None and any(
            r.get("incidentKey") == incident_key for r in self.elements.values()
        )
        if incident_key is not None and not shared:
            # An activation-limit incident parks several tokens: it stays open while any
            # of them is still parked, and resolving it skips the ones that are gone.
            self.close_incident(incident_key)

    # ------------------------------------------------------------------ errors

    def throw_error(
        self,
        code: str | None,
        scope: int,
        raiser: tuple[m.Element, int] | None,
        variables: dict[str, Any] | None = None,
    ) -> bool:
        """Find the closest catcher for `code`, interrupt up to it and take it.

        `raiser` is the (element, element instance key) of a task whose job threw the error;
        its own boundary events are tried first (on its multi-instance body if it has one).
        Then, scope by scope outwards: an error event sub-process of the scope, then a
        boundary event of the scope's activity. At the top, a child instance hands the error
        to its parent's call activity. Returns False when nothing catches the error.
        `variables` (a job's ThrowError) go with the catching event's token.
        """
        if raiser is not None:
            element, ei_key = raiser
            host_key = ei_key
            if element.loop is not None:
                record = self.elements.get(str(ei_key))
                iteration = self.elements.get(str(record["scope"])) if record else None
                if iteration is not None and iteration.get("iteration"):
                    host_key = iteration["scope"]
            boundary = self._catching_boundary(element, code)
            host = self.elements.get(str(host_key))
            if boundary is not None and host is not None:
                self.terminate_within(host_key)
                self.terminate_element_instance(host_key)
                self.dirty.pop(host_key, None)
                self.enqueue(boundary.id, host["scope"], None, variables)
                return True
        depth = 0
        while depth < 10_000:
            depth += 1
            if self._catch_in_event_sub_process(code, scope, variables):
                return True
            if scope == self.key:
                break
            record = self.elements.get(str(scope))
            if record is None:
                return False
            activity = self.process.elements[record["elementId"]]
            inner_of_loop = activity.loop is not None and not record.get("mi")
            boundary = None if inner_of_loop else self._catching_boundary(activity, code)
            if boundary is not None:
                self.terminate_within(scope)
                self.terminate_element_instance(scope)
                self.dirty.pop(scope, None)
                self.enqueue(boundary.id, record["scope"], None, variables)
                return True
            scope = record["scope"]
        if self.instance.get("parent"):
            from zennode.engine.bpmn.call_activity import throw_to_parent

            return throw_to_parent(self, code, variables)
        return False

    def _catch_in_event_sub_process(
        self, code: str | None, scope: int, variables: dict[str, Any] | None
    ) -> bool:
        if scope == self.key:
            starts = self.process.event_starts
        else:
            record = self.elements.get(str(scope))
            if record is None or record.get("iteration") or record.get("mi"):
                return False
            starts = self.process.elements[record["elementId"]].event_starts
        catch_all = None
        found = None
        for start_id in starts:
            start = self.process.elements[start_id]
            if not start.error_start:
                continue
            if start.error_code == code:
                found = start
                break
            if start.error_code is None and catch_all is None:
                catch_all = start
        found = found or catch_all
        if found is None:
            return False
        from zennode.engine.bpmn.event_sub_process import start_event_sub_process

        start_event_sub_process(self, scope, found, variables or {})
        return True

    def _catching_boundary(
        self, element: m.Element, code: str | None, kind: str = m.ERROR_BOUNDARY
    ) -> m.Element | None:
        catch_all = None
        for boundary_id in element.boundaries:
            boundary = self.process.elements[boundary_id]
            if boundary.kind != kind:
                continue
            caught = boundary.error_code if kind == m.ERROR_BOUNDARY else boundary.escalation_code
            if caught == code:
                return boundary
            if caught is None and catch_all is None:
                catch_all = boundary
        return catch_all

    def throw_escalation(self, code: str, scope: int) -> tuple[bool, bool]:
        """Find the closest catcher of escalation `code`: (caught, thrower interrupted).

        Scope by scope outwards: an escalation event sub-process of the scope, then an
        escalation boundary event of the scope's activity, then a calling parent. An
        uncaught escalation is no incident (the thrower just goes on, as in Zeebe).
        """
        depth = 0
        while depth < 10_000:
            depth += 1
            start = self._escalation_start(scope, code)
            if start is not None:
                from zennode.engine.bpmn.event_sub_process import start_event_sub_process

                start_event_sub_process(self, scope, start, {})
                return True, start.interrupting
            if scope == self.key:
                break
            record = self.elements.get(str(scope))
            if record is None:
                return False, False
            activity = self.process.elements[record["elementId"]]
            inner_of_loop = activity.loop is not None and not record.get("mi")
            boundary = (
                None
                if inner_of_loop or record.get("iteration")
                else self._catching_boundary(activity, code, m.ESCALATION_BOUNDARY)
            )
            if boundary is not None:
                if boundary.interrupting:
                    self.terminate_within(scope)
                    self.terminate_element_instance(scope)
                    self.dirty.pop(scope, None)
                self.enqueue(boundary.id, record["scope"], None)
                return True, boundary.interrupting
            scope = record["scope"]
        if self.instance.get("parent"):
            from zennode.engine.bpmn.call_activity import escalate_to_parent

            return escalate_to_parent(self, code)
        return False, False

    def _escalation_start(self, scope: int, code: str) -> m.Element | None:
        if scope == self.key:
            starts = self.process.event_starts
        else:
            record = self.elements.get(str(scope))
            if record is None or record.get("iteration") or record.get("mi"):
                return None
            starts = self.process.elements[record["elementId"]].event_starts
        catch_all = None
        for start_id in starts:
            start = self.process.elements[start_id]
            if not start.escalation_start:
                continue
            if start.escalation_code == code:
                return start
            if start.escalation_code is None and catch_all is None:
                catch_all = start
        return catch_all


ActivateFn = Callable[[Runner, m.Element, int, "str | None"], None]

_BEHAVIOURS: tuple[dict[str, ActivateFn], Callable[[Runner], bool], ActivateFn] | None = None


def _behaviours() -> tuple[dict[str, ActivateFn], Callable[[Runner], bool], ActivateFn]:
    """The family modules import this one, so they are looked up once, on first use."""
    global _BEHAVIOURS
    if _BEHAVIOURS is None:
        from zennode.engine.bpmn import ACTIVATE
        from zennode.engine.bpmn.gateways import fire_ready_inclusive_joins
        from zennode.engine.bpmn.multi_instance import activate_body

        _BEHAVIOURS = (ACTIVATE, fire_ready_inclusive_joins, activate_body)
    return _BEHAVIOURS
