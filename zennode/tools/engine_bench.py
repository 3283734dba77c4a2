"""Instances per second of the bare engine: `python -m zennode.tools.engine_bench [N]`.

The model is the benchmark's: start -> service task -> exclusive gateway (FEEL condition,
default flow) -> end. Each instance is one `create_instance` and one `complete_job`, each in its
own MemoryStore transaction, so the number covers the engine and its record codecs but no Raft,
LMDB or network. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

from zennode.engine.commands import CompleteJob, CreateInstance, Deploy, to_wire
from zennode.engine.engine import Engine
from zennode.engine.storage import MemoryStore

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="bench">
  <bpmn:process id="bench" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements><zeebe:taskDefinition type="work"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="gateway" default="low"/>
    <bpmn:endEvent id="end_high"/>
    <bpmn:endEvent id="end_low"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="gateway"/>
    <bpmn:sequenceFlow id="high" sourceRef="gateway" targetRef="end_high">
      <bpmn:conditionExpression>=x &gt; 5</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="low" sourceRef="gateway" targetRef="end_low"/>
  </bpmn:process>
</bpmn:definitions>
"""


def run(instances: int) -> float:
    """Seconds to run `instances` instances to their end."""
    store = MemoryStore()
    engine = Engine(partition_id=1)
    with store.write() as txn:
        deployed = engine.apply(txn, {**to_wire(Deploy(xml=MODEL)), "now_ms": 0}).unwrap()
    definition_key = deployed["processDefinitionKey"]
    began = time.perf_counter()
    for i in range(instances):
        with store.write() as txn:
            command = CreateInstance(process_definition_key=definition_key, variables={"x": i % 10})
            created = engine.apply(txn, {**to_wire(command), "now_ms": i})
        job_key = created.events[-1]["jobKey"]
        with store.write() as txn:
            done = engine.apply(txn, {**to_wire(CompleteJob(job_key=job_key)), "now_ms": i})
        if done.events[-1]["event"] != "instance_completed":
            raise RuntimeError(f"instance did not complete: {done}")
    return time.perf_counter() - began


def main(argv: list[str]) -> None:
    instances = int(argv[0]) if argv else 10_000
    run(min(instances, 1_000))  # warm-up: caches, first FEEL evaluation
    seconds = run(instances)
    print(
        json.dumps(
            {
                "benchmark": "engine",
                "instances": instances,
                "seconds": round(seconds, 3),
                "instances_per_second": round(instances / seconds),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
