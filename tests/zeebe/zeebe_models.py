"""BPMN models for the Zeebe gateway tests (Camunda 8 modeler style, zeebe: extensions)."""

from __future__ import annotations

import uuid

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="http://t">
"""


def unique(prefix: str) -> str:
    """A process id / job type / message name no other test uses (tests share one cluster)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def service_task(process_id: str, job_type: str, retries: int = 3) -> str:
    """start -> service task `job_type` (headers region=eu) -> end."""
    return (
        _HEAD
        + f"""  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" retries="{retries}"/>
        <zeebe:taskHeaders><zeebe:header key="region" value="eu"/></zeebe:taskHeaders>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
    )


def error_boundary(process_id: str, job_type: str, error_code: str) -> str:
    """A service task whose BPMN error `error_code` is caught: the instance ends at `caught`."""
    return (
        _HEAD
        + f"""  <bpmn:error id="err" name="err" errorCode="{error_code}"/>
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements><zeebe:taskDefinition type="{job_type}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="catch" attachedToRef="task">
      <bpmn:errorEventDefinition errorRef="err"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="catch" targetRef="caught"/>
    <bpmn:endEvent id="caught"/>
  </bpmn:process>
</bpmn:definitions>
"""
    )


def message_wait(process_id: str, message_name: str) -> str:
    """start -> wait for message `message_name` correlated by `orderId` -> end."""
    return (
        _HEAD
        + f"""  <bpmn:message id="msg" name="{message_name}">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:messageEventDefinition messageRef="msg"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
    )


def signal_wait(process_id: str, signal_name: str) -> str:
    """start -> wait for signal `signal_name` -> end."""
    return (
        _HEAD
        + f"""  <bpmn:signal id="sig" name="{signal_name}"/>
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:signalEventDefinition signalRef="sig"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
    )
