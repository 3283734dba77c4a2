"""Names and the one model convention of the Zeebe gateway tests; BPMN comes from
`support.bpmn`."""

from __future__ import annotations

import uuid

from support.bpmn import bpmn, chain, end, one_task, service, start, sub

HEADERS = {"region": "eu"}  # what the clients under test must hand to their handlers


def unique(prefix: str) -> str:
    """A process id / job type / message name no other test uses (tests share one cluster)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def service_task(process_id: str, job_type: str, retries: int = 3) -> str:
    """start -> service task `job_type` (headers region=eu) -> end."""
    return one_task(process_id, job_type, retries, headers=HEADERS)


def modifiable(process_id: str, job_type: str) -> str:
    """start -> task `first` -> sub-process `sp` (task `inner`) -> task `last` -> end, every
    task of type `job_type`: the instance-modification tests move tokens between them."""
    inner = start("s_in") + service("inner", job_type) + end("e_in")
    return bpmn(
        start()
        + service("first", job_type)
        + sub("sp", inner + chain("s_in", "inner", "e_in"))
        + service("last", job_type)
        + end()
        + chain("start", "first", "sp", "last", "end"),
        process_id,
    )
