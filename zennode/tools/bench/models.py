"""The benchmark model: start -> service task -> exclusive gateway -> end (two ends).

The same graph is written twice: once with Zeebe extensions and FEEL conditions (zennode),
once with a Python condition (SpiffWorkflow evaluates Python). The handler sets `approved`,
the gateway routes on it, so every instance runs the task, evaluates a condition and ends.
"""

from __future__ import annotations

PROCESS_ID = "bench"
JOB_TYPE = "bench-task"

_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="bench-defs"
    targetNamespace="http://zennode/bench">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task" name="Work">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" retries="3"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f_no"/>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="end_yes">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="end_no"/>
    <bpmn:endEvent id="end_yes"/>
    <bpmn:endEvent id="end_no"/>
  </bpmn:process>
</bpmn:definitions>
"""


def zennode_model(process_id: str = PROCESS_ID, job_type: str = JOB_TYPE) -> str:
    return _TEMPLATE.format(pid=process_id, job_type=job_type, condition="=approved = true")


def spiff_model(process_id: str = PROCESS_ID) -> str:
    return _TEMPLATE.format(pid=process_id, job_type=JOB_TYPE, condition="approved == True")


def handler(variables: dict[str, object]) -> dict[str, object]:
    """The service task's work: what both engines call for every instance."""
    return {"approved": int(str(variables.get("n", 0))) % 2 == 0}


def one_task_model(process_id: str, job_type: str = JOB_TYPE) -> str:
    """start -> service task -> end: the node benchmark's process (one job per instance)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="bench-node-defs"
    targetNamespace="http://zennode/bench">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:serviceTask id="task" name="Work">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{job_type}" retries="3"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
