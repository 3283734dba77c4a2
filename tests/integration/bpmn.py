"""Small BPMN models the integration tests deploy (Zeebe extension namespace)."""

from __future__ import annotations

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="http://zennode/test">
"""


def one_task(process_id: str, job_type: str, retries: int = 3) -> str:
    """start -> service task (job_type) -> end."""
    return f"""{_HEADER}
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task" name="Task">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" retries="{retries}"/>
        <zeebe:taskHeaders><zeebe:header key="kind" value="test"/></zeebe:taskHeaders>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def task_with_error_boundary(process_id: str, job_type: str, error_code: str) -> str:
    """start -> task (job_type) -> ok_end, with an error boundary (error_code) -> handled task.

    The handled path runs a second job of type `{job_type}-handled` so a test can see it.
    """
    return f"""{_HEADER}
  <bpmn:error id="err" errorCode="{error_code}"/>
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" retries="3"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="ok_end"/>
    <bpmn:endEvent id="ok_end"/>
    <bpmn:boundaryEvent id="caught" attachedToRef="task">
      <bpmn:errorEventDefinition errorRef="err"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="caught" targetRef="handled"/>
    <bpmn:serviceTask id="handled">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}-handled"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f4" sourceRef="handled" targetRef="handled_end"/>
    <bpmn:endEvent id="handled_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def handler_then_gateway(process_id: str, job_type: str) -> str:
    """start -> task (job_type) -> exclusive gateway on `total > 100` -> big_end | small_end."""
    return f"""{_HEADER}
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="small"/>
    <bpmn:sequenceFlow id="big" sourceRef="gw" targetRef="big_end">
      <bpmn:conditionExpression>=total &gt; 100</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="gw" targetRef="small_end"/>
    <bpmn:endEvent id="big_end"/>
    <bpmn:endEvent id="small_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


UNSUPPORTED = f"""{_HEADER}
  <bpmn:process id="unsupported" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:complexGateway id="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def call_activity(process_id: str, called_process_id: str) -> str:
    """start -> call activity (called_process_id) -> end."""
    return f"""{_HEADER}
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
    <bpmn:callActivity id="call">
      <bpmn:extensionElements>
        <zeebe:calledElement processId="{called_process_id}"/>
      </bpmn:extensionElements>
    </bpmn:callActivity>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
