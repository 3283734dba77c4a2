"""Zeebe's ModifyProcessInstance and CreateProcessInstance start instructions against a real
node (two partitions), through pyzeebe's generated Gateway stub (zbctl 8.4 has no modify
command): a token moved from one task to another, a start inside a sub-process with scoped
variables, and the status codes of refusals."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest
from pyzeebe.proto import gateway_pb2 as gw
from zeebe_client import Gateway, status_of
from zeebe_models import modifiable, unique

pytestmark = pytest.mark.timeout(120)

Modify = gw.ModifyProcessInstanceRequest


def element_key(view: dict[str, Any], element_id: str) -> int:
    [key] = [
        e["elementInstanceKey"]
        for e in view["activeElementInstances"]
        if e["elementId"] == element_id
    ]
    return key


def test_modify_process_instance_and_start_instructions(single_node: dict) -> None:
    process_id, job_type = unique("modify"), unique("modify-job")

    async def scenario() -> None:
        async with Gateway(single_node) as g:
            s = g.stub
            await g.deploy("modify.bpmn", modifiable(process_id, job_type))
            key = await g.create(process_id)
            first = element_key(await g.instance(key), "first")
            # Move the token from `first` into the sub-process, with a variable in its scope.
            move = Modify(
                processInstanceKey=key,
                activateInstructions=[
                    Modify.ActivateInstruction(
                        elementId="inner",
                        variableInstructions=[
                            Modify.VariableInstruction(variables='{"x": 1}', scopeId="sp"),
                            Modify.VariableInstruction(variables='{"g": 2}', scopeId=""),
                        ],
                    )
                ],
                terminateInstructions=[Modify.TerminateInstruction(elementInstanceKey=first)],
            )
            await s.ModifyProcessInstance(move, timeout=10)
            view = await g.instance(key)
            assert sorted(e["elementId"] for e in view["activeElementInstances"]) == [
                "inner",
                "sp",
            ]
            assert view["variables"] == {"g": 2}
            job = await g.activate_one(job_type, fetch=("x", "g"))
            assert job.elementId == "inner" and json.loads(job.variables) == {"x": 1, "g": 2}

            invalid = grpc.StatusCode.INVALID_ARGUMENT
            bad_element = Modify(
                processInstanceKey=key,
                activateInstructions=[Modify.ActivateInstruction(elementId="nope")],
            )
            try:
                await s.ModifyProcessInstance(bad_element, timeout=10)
                raise AssertionError("an unknown element was accepted")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == invalid and "'nope'" in (exc.details() or "")
            boundary_like = Modify(
                processInstanceKey=key,
                activateInstructions=[Modify.ActivateInstruction(elementId="s_in")],
            )
            assert await status_of(s.ModifyProcessInstance(boundary_like, timeout=10)) == invalid
            unknown = Modify(processInstanceKey=key + 10_000)
            not_found = grpc.StatusCode.NOT_FOUND
            assert await status_of(s.ModifyProcessInstance(unknown, timeout=10)) == not_found

            # Terminating the last token ends the instance; Zeebe then answers NOT_FOUND.
            inner = element_key(await g.instance(key), "inner")
            last = Modify(
                processInstanceKey=key,
                terminateInstructions=[Modify.TerminateInstruction(elementInstanceKey=inner)],
            )
            await s.ModifyProcessInstance(last, timeout=10)
            assert (await g.instance(key))["state"] == "terminated"
            assert await status_of(s.ModifyProcessInstance(last, timeout=10)) == not_found

            # CreateProcessInstance with start instructions skips the start event.
            create = gw.CreateProcessInstanceRequest(
                bpmnProcessId=process_id,
                version=-1,
                startInstructions=[gw.ProcessInstanceCreationStartInstruction(elementId="last")],
            )
            created = await s.CreateProcessInstance(create, timeout=10)
            view = await g.instance(created.processInstanceKey)
            assert [e["elementId"] for e in view["activeElementInstances"]] == ["last"]
            wrong = gw.CreateProcessInstanceRequest(
                bpmnProcessId=process_id,
                startInstructions=[gw.ProcessInstanceCreationStartInstruction(elementId="s_in")],
            )
            assert await status_of(s.CreateProcessInstance(wrong, timeout=10)) == invalid

    asyncio.run(scenario())
