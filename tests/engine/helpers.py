"""Test helpers: a small BPMN writer and a harness that applies commands to a MemoryStore."""

from __future__ import annotations

from typing import Any

from zennode.engine import Engine, queries
from zennode.engine.outcome import Outcome
from zennode.engine.storage import MemoryStore

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:zenbpm="http://zenbpm.pbinitiative.org/1.0" id="defs">\n'
)


def definitions(*processes: str, errors: str = "") -> str:
    return HEAD + "".join(processes) + errors + "</bpmn:definitions>\n"


def process(body: str, pid: str = "p", executable: bool = True) -> str:
    flag = "true" if executable else "false"
    return f'<bpmn:process id="{pid}" isExecutable="{flag}">{body}</bpmn:process>\n'


def bpmn(body: str, pid: str = "p", errors: str = "") -> str:
    return definitions(process(body, pid), errors=errors)


def flow(fid: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"/>'
    cond = condition.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
        f"<bpmn:conditionExpression>{cond}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )


def chain(*ids: str, prefix: str = "f") -> str:
    """Unconditional flows a -> b -> c named f_a_b, ..."""
    return "".join(flow(f"{prefix}_{a}_{b}", a, b) for a, b in zip(ids, ids[1:], strict=False))


def service(
    tid: str,
    job_type: str,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    retries: str | None = None,
    tag: str = "serviceTask",
    ns: str = "zeebe",
) -> str:
    ext = f'<{ns}:taskDefinition type="{_attr(job_type)}"'
    ext += f' retries="{_attr(retries)}"/>' if retries is not None else "/>"
    if inputs or outputs:
        ext += f"<{ns}:ioMapping>"
        for target, source in (inputs or {}).items():
            ext += f'<{ns}:input source="{_attr(source)}" target="{target}"/>'
        for target, source in (outputs or {}).items():
            ext += f'<{ns}:output source="{_attr(source)}" target="{target}"/>'
        ext += f"</{ns}:ioMapping>"
    if headers:
        ext += f"<{ns}:taskHeaders>"
        for key, value in headers.items():
            ext += f'<{ns}:header key="{key}" value="{value}"/>'
        ext += f"</{ns}:taskHeaders>"
    ext = f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>"
    return f'<bpmn:{tag} id="{tid}">{ext}</bpmn:{tag}>'


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def start(sid: str = "start") -> str:
    return f'<bpmn:startEvent id="{sid}"/>'


def end(eid: str = "end") -> str:
    return f'<bpmn:endEvent id="{eid}"/>'


def gateway(gid: str, kind: str = "exclusive", default: str | None = None) -> str:
    extra = f' default="{default}"' if default else ""
    return f'<bpmn:{kind}Gateway id="{gid}"{extra}/>'


def sub(sid: str, body: str) -> str:
    """An embedded sub-process holding `body`."""
    return f'<bpmn:subProcess id="{sid}">{body}</bpmn:subProcess>'


def error_end(eid: str, error_ref: str) -> str:
    return (
        f'<bpmn:endEvent id="{eid}"><bpmn:errorEventDefinition errorRef="{error_ref}"/>'
        "</bpmn:endEvent>"
    )


def error_boundary(bid: str, attached: str, error_ref: str | None = None) -> str:
    ref = f' errorRef="{error_ref}"' if error_ref else ""
    return (
        f'<bpmn:boundaryEvent id="{bid}" attachedToRef="{attached}">'
        f"<bpmn:errorEventDefinition{ref}/></bpmn:boundaryEvent>"
    )


def error(eid: str, code: str) -> str:
    return f'<bpmn:error id="{eid}" name="{eid}" errorCode="{code}"/>'


class Harness:
    """One engine on one MemoryStore; `now_ms` advances by 1 per command unless given."""

    def __init__(self, partition_id: int = 1, **engine_options: Any) -> None:
        self.store = MemoryStore()
        self.engine = Engine(partition_id, **engine_options)
        self.now_ms = 1_000
        self.events: list[dict[str, Any]] = []

    def apply(self, command_type: str, **fields: Any) -> Outcome:
        now = fields.pop("now_ms", None)
        if now is None:
            self.now_ms += 1
            now = self.now_ms
        with self.store.write() as txn:
            outcome = self.engine.apply(txn, {"type": command_type, "now_ms": now, **fields})
        self.events.extend(outcome.events)
        return outcome

    def ok(self, command_type: str, **fields: Any) -> dict[str, Any]:
        return self.apply(command_type, **fields).unwrap()

    def deploy(self, xml: str) -> dict[str, Any]:
        return self.ok("deploy", xml=xml)

    def start(self, xml: str, variables: dict[str, Any] | None = None) -> int:
        result = self.deploy(xml)
        created = self.ok(
            "create_instance",
            processDefinitionKey=result["processDefinitionKey"],
            variables=variables or {},
        )
        return created["processInstanceKey"]

    def instance(self, key: int) -> dict[str, Any]:
        with self.store.read() as txn:
            return queries.get_instance(txn, key)

    def jobs(self, instance_key: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        with self.store.read() as txn:
            items, _ = queries.list_jobs(txn, instance_key=instance_key, limit=1000, **filters)
        return items

    def active_jobs(self, instance_key: int) -> list[dict[str, Any]]:
        return [j for j in self.jobs(instance_key) if j["state"] in ("active", "activated")]

    def job(self, instance_key: int, element_id: str) -> dict[str, Any]:
        found = [j for j in self.active_jobs(instance_key) if j["elementId"] == element_id]
        assert len(found) == 1, f"expected one open job at {element_id}, got {found}"
        return found[0]

    def complete(self, instance_key: int, element_id: str, **variables: Any) -> dict[str, Any]:
        job = self.job(instance_key, element_id)
        return self.ok("complete_job", jobKey=job["key"], variables=variables)

    def incidents(self, instance_key: int) -> list[dict[str, Any]]:
        with self.store.read() as txn:
            items, _ = queries.list_incidents(txn, instance_key=instance_key, limit=1000)
        return items

    def open_incidents(self, instance_key: int) -> list[dict[str, Any]]:
        return [i for i in self.incidents(instance_key) if i["state"] == "active"]

    def waiting_at(self, instance_key: int) -> list[str]:
        return sorted(e["elementId"] for e in self.instance(instance_key)["activeElementInstances"])

    def snapshot(self) -> dict[str, dict[bytes, bytes]]:
        return {name: dict(table) for name, table in self.store.tables.items()}


# ---------------------------------------------------------------- timers and messages


def timer_def(kind: str, value: str) -> str:
    tag = {"date": "timeDate", "duration": "timeDuration", "cycle": "timeCycle"}[kind]
    inner = f"<bpmn:{tag}>{_attr(value)}</bpmn:{tag}>"
    return f"<bpmn:timerEventDefinition>{inner}</bpmn:timerEventDefinition>"


def timer_catch(cid: str, kind: str, value: str) -> str:
    definition = timer_def(kind, value)
    return f'<bpmn:intermediateCatchEvent id="{cid}">{definition}</bpmn:intermediateCatchEvent>'


def message(mid: str, name: str, key: str | None = "=key") -> str:
    """A bpmn:message (goes after the processes, like errors)."""
    sub = (
        f'<bpmn:extensionElements><zeebe:subscription correlationKey="{_attr(key)}"/>'
        "</bpmn:extensionElements>"
        if key
        else ""
    )
    return f'<bpmn:message id="{mid}" name="{name}">{sub}</bpmn:message>'


def message_catch(cid: str, message_ref: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{cid}">'
        f'<bpmn:messageEventDefinition messageRef="{message_ref}"/></bpmn:intermediateCatchEvent>'
    )


def boundary(bid: str, attached: str, definition: str, interrupting: bool = True) -> str:
    flag = "" if interrupting else ' cancelActivity="false"'
    head = f'<bpmn:boundaryEvent id="{bid}" attachedToRef="{attached}"{flag}>'
    return f"{head}{definition}</bpmn:boundaryEvent>"


def message_def(message_ref: str) -> str:
    return f'<bpmn:messageEventDefinition messageRef="{message_ref}"/>'


class Partitions:
    """Several partitions, each a Harness, with the leader relays done in-line: every `relay`
    event is applied on its target partition and acknowledged back, until none is left."""

    def __init__(self, count: int = 3) -> None:
        self.parts = {p: Harness(partition_id=p) for p in range(1, count + 1)}
        self.relayed = 0

    def __getitem__(self, partition_id: int) -> Harness:
        return self.parts[partition_id]

    def apply(self, partition_id: int, command_type: str, **fields: Any) -> Outcome:
        outcome = self.parts[partition_id].apply(command_type, **fields)
        self.drain(partition_id, outcome.events)
        return outcome

    def ok(self, partition_id: int, command_type: str, **fields: Any) -> dict[str, Any]:
        return self.apply(partition_id, command_type, **fields).unwrap()

    def drain(self, source: int, events: list[dict[str, Any]]) -> None:
        from zennode.engine.relay import RELAY_EVENT, target_partitions

        queue = [(source, e["relay"]) for e in events if e["event"] == RELAY_EVENT]
        steps = 0
        while queue:
            steps += 1
            assert steps < 10_000, "relays do not settle"
            origin, relay = queue.pop(0)
            for target in target_partitions(relay, len(self.parts)):
                out = self.parts[target].apply(
                    relay["command"]["type"],
                    **{k: v for k, v in relay["command"].items() if k != "type"},
                )
                assert out.ok, (relay, out.error)
                self.relayed += 1
                queue.extend((target, e["relay"]) for e in out.events if e["event"] == RELAY_EVENT)
            if relay["ack"]:
                ack = self.parts[origin].apply(
                    relay["ack"]["type"], **{k: v for k, v in relay["ack"].items() if k != "type"}
                )
                assert ack.ok, ack.error

    def deploy(self, xml: str) -> dict[str, Any]:
        first = self.ok(1, "deploy", xml=xml)
        assigned = {
            p["bpmnProcessId"]: {"key": p["processDefinitionKey"], "version": p["version"]}
            for p in first["processes"]
        }
        for pid in list(self.parts)[1:]:
            self.ok(pid, "deploy", xml=xml, assigned=assigned)
        return first

    def publish(self, name: str, key: str, **fields: Any) -> dict[str, Any]:
        from zennode.engine.relay import message_partition

        return self.ok(
            message_partition(key, len(self.parts)),
            "publish_message",
            messageName=name,
            correlationKey=key,
            **fields,
        )

    def tick(self, now_ms: int) -> None:
        for pid, part in self.parts.items():
            self.apply(pid, "trigger_timers", now_ms=now_ms)
            part.now_ms = max(part.now_ms, now_ms)
