"""BPMN for tests: element builders that compose into a document, and the few small models
many tests deploy. One header, one way to write a model; a test that needs an odd shape builds
it from these elements (or adds a builder here).

    bpmn(start() + service("t", "work") + end() + chain("start", "t", "end"))

The documents use the Zeebe extension namespace (`zeebe:`), as Camunda 8's modeler writes
them; `zenbpm:` is declared too (zennode reads both as one).
"""

from __future__ import annotations

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:zenbpm="http://zenbpm.pbinitiative.org/1.0" id="defs">\n'
)


# ---------------------------------------------------------------- documents


def definitions(*processes: str, errors: str = "") -> str:
    """A document of `processes`; `errors` holds the root elements that go after them
    (errors, messages, signals, escalations)."""
    return HEAD + "".join(processes) + errors + "</bpmn:definitions>\n"


def process(body: str, pid: str = "p", executable: bool = True) -> str:
    flag = "true" if executable else "false"
    return f'<bpmn:process id="{pid}" isExecutable="{flag}">{body}</bpmn:process>\n'


def bpmn(body: str, pid: str = "p", errors: str = "") -> str:
    """A document with one process."""
    return definitions(process(body, pid), errors=errors)


# ---------------------------------------------------------------- flows and elements


def attr(value: str) -> str:
    """`value` escaped for an XML attribute."""
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


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


def start(sid: str = "start") -> str:
    return f'<bpmn:startEvent id="{sid}"/>'


def end(eid: str = "end") -> str:
    return f'<bpmn:endEvent id="{eid}"/>'


def service(
    tid: str,
    job_type: str,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    retries: str | None = None,
    tag: str = "serviceTask",
    ns: str = "zeebe",
    name: str | None = None,
) -> str:
    """A task with a job (`tag`: serviceTask, sendTask, scriptTask, ...)."""
    ext = f'<{ns}:taskDefinition type="{attr(job_type)}"'
    ext += f' retries="{attr(retries)}"/>' if retries is not None else "/>"
    if inputs or outputs:
        ext += f"<{ns}:ioMapping>"
        for target, source in (inputs or {}).items():
            ext += f'<{ns}:input source="{attr(source)}" target="{target}"/>'
        for target, source in (outputs or {}).items():
            ext += f'<{ns}:output source="{attr(source)}" target="{target}"/>'
        ext += f"</{ns}:ioMapping>"
    if headers:
        ext += f"<{ns}:taskHeaders>"
        for key, value in headers.items():
            ext += f'<{ns}:header key="{key}" value="{value}"/>'
        ext += f"</{ns}:taskHeaders>"
    ext = f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>"
    named = f' name="{attr(name)}"' if name is not None else ""
    return f'<bpmn:{tag} id="{tid}"{named}>{ext}</bpmn:{tag}>'


def gateway(gid: str, kind: str = "exclusive", default: str | None = None) -> str:
    extra = f' default="{default}"' if default else ""
    return f'<bpmn:{kind}Gateway id="{gid}"{extra}/>'


def sub(sid: str, body: str) -> str:
    """An embedded sub-process holding `body`."""
    return f'<bpmn:subProcess id="{sid}">{body}</bpmn:subProcess>'


def call_activity(
    cid: str, target: str, extra: str = "", outputs: dict[str, str] | None = None
) -> str:
    """A call activity starting process `target` (`extra`: more calledElement attributes)."""
    io = ""
    if outputs:
        io = (
            "<zeebe:ioMapping>"
            + "".join(f'<zeebe:output source="{s}" target="{t}"/>' for t, s in outputs.items())
            + "</zeebe:ioMapping>"
        )
    return (
        f'<bpmn:callActivity id="{cid}"><bpmn:extensionElements>'
        f'<zeebe:calledElement processId="{target}"{extra}/>{io}'
        "</bpmn:extensionElements></bpmn:callActivity>"
    )


# ---------------------------------------------------------------- errors


def error(eid: str, code: str) -> str:
    """A bpmn:error (goes after the processes)."""
    return f'<bpmn:error id="{eid}" name="{eid}" errorCode="{code}"/>'


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


# ---------------------------------------------------------------- timers, messages, signals


def timer_def(kind: str, value: str) -> str:
    tag = {"date": "timeDate", "duration": "timeDuration", "cycle": "timeCycle"}[kind]
    inner = f"<bpmn:{tag}>{attr(value)}</bpmn:{tag}>"
    return f"<bpmn:timerEventDefinition>{inner}</bpmn:timerEventDefinition>"


def timer_catch(cid: str, kind: str, value: str) -> str:
    definition = timer_def(kind, value)
    return f'<bpmn:intermediateCatchEvent id="{cid}">{definition}</bpmn:intermediateCatchEvent>'


def message(mid: str, name: str, key: str | None = "=key") -> str:
    """A bpmn:message (goes after the processes, like errors)."""
    sub = (
        f'<bpmn:extensionElements><zeebe:subscription correlationKey="{attr(key)}"/>'
        "</bpmn:extensionElements>"
        if key
        else ""
    )
    return f'<bpmn:message id="{mid}" name="{name}">{sub}</bpmn:message>'


def message_def(message_ref: str) -> str:
    return f'<bpmn:messageEventDefinition messageRef="{message_ref}"/>'


def message_catch(cid: str, message_ref: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{cid}">'
        f'<bpmn:messageEventDefinition messageRef="{message_ref}"/></bpmn:intermediateCatchEvent>'
    )


def signal(sid: str, name: str) -> str:
    """A bpmn:signal (goes after the processes)."""
    return f'<bpmn:signal id="{sid}" name="{name}"/>'


def signal_def(signal_ref: str) -> str:
    return f'<bpmn:signalEventDefinition signalRef="{signal_ref}"/>'


def signal_catch(cid: str, signal_ref: str) -> str:
    definition = signal_def(signal_ref)
    return f'<bpmn:intermediateCatchEvent id="{cid}">{definition}</bpmn:intermediateCatchEvent>'


def boundary(bid: str, attached: str, definition: str, interrupting: bool = True) -> str:
    flag = "" if interrupting else ' cancelActivity="false"'
    head = f'<bpmn:boundaryEvent id="{bid}" attachedToRef="{attached}"{flag}>'
    return f"{head}{definition}</bpmn:boundaryEvent>"


# ---------------------------------------------------------------- small models


def one_task(
    process_id: str,
    job_type: str,
    retries: int = 3,
    headers: dict[str, str] | None = None,
    name: str | None = None,
) -> str:
    """start -> service task `task` (job_type, retries, headers) -> end."""
    task = service("task", job_type, headers=headers, retries=str(retries), name=name)
    return bpmn(start() + task + end() + chain("start", "task", "end"), process_id)


def task_with_error_boundary(
    process_id: str, job_type: str, error_code: str, handler_task: bool = True
) -> str:
    """start -> task (job_type) -> ok_end, with an error boundary `caught` (error_code) that
    leads to `handled_end` — through a second job of type `{job_type}-handled` (so a test can
    see the path taken) unless `handler_task=False`."""
    body = start() + service("task", job_type, retries="3") + end("ok_end")
    body += error_boundary("caught", "task", "err") + end("handled_end")
    body += chain("start", "task", "ok_end")
    if handler_task:
        body += service("handled", f"{job_type}-handled") + chain(
            "caught", "handled", "handled_end"
        )
    else:
        body += chain("caught", "handled_end")
    return definitions(process(body, process_id), errors=error("err", error_code))


def handler_then_gateway(process_id: str, job_type: str) -> str:
    """start -> task (job_type) -> exclusive gateway on `total > 100` -> big_end | small_end."""
    body = start() + service("task", job_type) + gateway("gw", default="small")
    body += flow("big", "gw", "big_end", "=total > 100") + flow("small", "gw", "small_end")
    body += end("big_end") + end("small_end") + chain("start", "task", "gw")
    return bpmn(body, process_id)


def calling(process_id: str, called_process_id: str) -> str:
    """start -> call activity `call` (called_process_id) -> end."""
    body = start() + call_activity("call", called_process_id) + end()
    return bpmn(body + chain("start", "call", "end"), process_id)


def message_wait(process_id: str, message_name: str, key: str = "=orderId") -> str:
    """start -> wait for message `message_name` correlated by `key` -> end."""
    body = start() + message_catch("wait", "msg") + end() + chain("start", "wait", "end")
    return bpmn(body, process_id, errors=message("msg", message_name, key))


def signal_wait(process_id: str, signal_name: str) -> str:
    """start -> wait for signal `signal_name` -> end."""
    body = start() + signal_catch("wait", "sig") + end() + chain("start", "wait", "end")
    return bpmn(body, process_id, errors=signal("sig", signal_name))


UNSUPPORTED = bpmn(
    start() + gateway("wait", "complex") + end() + chain("start", "wait", "end"), "unsupported"
)  # a complex gateway: deploying it is refused, naming the element
