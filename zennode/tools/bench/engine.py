"""`scripts/bench engine`: instances per second in one process, no client traffic.

Three runs of the same model (`models.py`), each N instances, each instance run to its end:

- `engine`: `Engine.apply` on a `MemoryStore`, 100 commands per transaction (as a partition
  applies a Raft batch); the service task's handler is called between `create_instance` and
  `complete_job` (what the handler runner does, without threads). The state machine alone.
- `node`: an in-process `Node` (LMDB, single-replica Raft with batching, the internal handler
  runner and its thread pool), instances created through `Node.create_instance` with a bounded
  number in flight; done when the last `instance_completed` event arrives.
- `spiff` (with `--vs-spiff`): SpiffWorkflow (the optional `[bench]` extra) on the same graph,
  the service task calling the same handler, one `BpmnWorkflow` per instance.

Every run checks that each instance really ended (and on which end event), so a fast wrong
engine cannot win.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

from zennode.tools.bench.models import JOB_TYPE, PROCESS_ID, handler, spiff_model, zennode_model
from zennode.tools.ports import reserve_node

if TYPE_CHECKING:
    from zennode.node import Node

ENGINE_BATCH_COMMANDS = 100  # commands per transaction (a partition's batch holds up to 200)
NODE_IN_FLIGHT_MAX = 500  # create_instance calls awaiting their commit at once
NODE_TIMEOUT_S = 600.0  # a node run that takes longer than this is reported as failed


def run_engine(
    instances: int, batch: int = ENGINE_BATCH_COMMANDS, store_kind: str = "memory"
) -> dict[str, Any]:
    """The pure engine path; returns {instances, seconds, per_second}.

    Commands are applied `batch` to a transaction, as a partition applies a Raft batch in one
    LMDB transaction: first the creations of `batch` instances, then the completions of the
    jobs they created (the handler runs in between, as the handler runner does).
    `store_kind="lmdb"`: on an `LmdbStore` in a temporary directory, unsynced (what a replica
    pays for LMDB and the running digest on every batch, without the disk's fsync).
    """
    if store_kind == "lmdb":
        from zennode.state.lmdb_store import LmdbStore

        with tempfile.TemporaryDirectory(prefix="zennode-bench-") as tmp:
            lmdb_store = LmdbStore(f"{tmp}/lmdb", sync=False)
            try:
                return _run_engine_on(lmdb_store, instances, batch)
            finally:
                lmdb_store.close()
    from zennode.engine.storage import MemoryStore

    return _run_engine_on(MemoryStore(), instances, batch)


def _run_engine_on(store: Any, instances: int, batch: int) -> dict[str, Any]:
    from zennode.engine import Engine
    from zennode.engine.commands import Command, CompleteJob, CreateInstance, Deploy, to_wire

    engine = Engine(1)
    clock = [1_000_000]

    def apply_batch(commands: list[Command]) -> list[Any]:
        clock[0] += 1
        outcomes = []
        with store.write() as txn:
            for command in commands:
                wire = to_wire(command)  # what a Raft batch carries
                wire["now_ms"] = clock[0]
                outcome = engine.apply(txn, wire)
                if outcome.error is not None:
                    raise outcome.error
                outcomes.append(outcome)
        return outcomes

    apply_batch([Deploy(xml=zennode_model())])
    completed = 0
    started = time.perf_counter()
    for first in range(0, instances, batch):
        creates: list[Command] = [
            CreateInstance(bpmn_process_id=PROCESS_ID, variables={"n": i})
            for i in range(first, min(first + batch, instances))
        ]
        completes: list[Command] = [
            CompleteJob(job_key=event["job"]["key"], variables=handler(event["job"]["variables"]))
            for outcome in apply_batch(creates)
            for event in outcome.events
            if event["event"] == "job_created"
        ]
        for outcome in apply_batch(completes):
            completed += sum(e["event"] == "instance_completed" for e in outcome.events)
    seconds = time.perf_counter() - started
    _check_all_ended("engine", completed, instances)
    return _rate(instances, seconds)


def run_spiff(instances: int) -> dict[str, Any]:
    """SpiffWorkflow on the same graph; raises ImportError without the `[bench]` extra."""
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
    from SpiffWorkflow.bpmn.parser.util import full_tag
    from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    class HandlerServiceTask(ServiceTask):  # type: ignore[misc]
        """A service task that calls the benchmark handler (Spiff's own does nothing)."""

        def _execute(self, task: Any) -> bool:
            task.data.update(handler(task.data))
            return True

    class Parser(BpmnParser):  # type: ignore[misc]
        OVERRIDE_PARSER_CLASSES = {full_tag("serviceTask"): (TaskParser, HandlerServiceTask)}

    parser = Parser()
    parser.add_bpmn_str(spiff_model().encode())
    spec = parser.get_spec(PROCESS_ID)
    completed = 0
    started = time.perf_counter()
    for i in range(instances):
        workflow = BpmnWorkflow(spec)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data["n"] = i
        workflow.do_engine_steps()
        completed += bool(workflow.is_completed())
    seconds = time.perf_counter() - started
    _check_all_ended("spiff", completed, instances)
    return _rate(instances, seconds)


def run_node(instances: int, partitions: int = 1) -> dict[str, Any]:
    """An in-process Node with LMDB and single-replica Raft (the production apply path)."""
    return asyncio.run(_run_node(instances, partitions))


async def _run_node(instances: int, partitions: int) -> dict[str, Any]:
    from zennode.config import default_config
    from zennode.node import Node

    with tempfile.TemporaryDirectory(prefix="zennode-bench-") as data_dir:
        config = default_config()
        config = dataclasses.replace(config, partitions=partitions)
        config = config.with_overrides(data_dir=data_dir, port_base=reserve_node(partitions).base)
        node = Node(config, serve_http=False, serve_grpc=False)
        node.task_handler(JOB_TYPE)(lambda job: handler(job.get("variables") or {}))
        done = threading.Event()
        completed = [0]
        lock = threading.Lock()

        def on_events(_pid: int, events: list[dict[str, Any]]) -> None:
            ended = sum(e.get("event") == "instance_completed" for e in events)
            if ended:
                with lock:
                    completed[0] += ended
                    if completed[0] >= instances:
                        done.set()

        node.cluster.add_event_listener(on_events)
        logger = logging.getLogger("zennode")  # no start/stop lines between the results
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            await node.start()
            await _wait_ready(node)
            await node.service.deploy(zennode_model().encode())
            gate = asyncio.Semaphore(NODE_IN_FLIGHT_MAX)

            async def create(i: int) -> None:
                async with gate:
                    await node.service.create_instance(
                        bpmn_process_id=PROCESS_ID, variables={"n": i}
                    )

            started = time.perf_counter()
            await asyncio.gather(*(create(i) for i in range(instances)))
            created_s = time.perf_counter() - started
            if not await asyncio.to_thread(done.wait, NODE_TIMEOUT_S):
                raise RuntimeError(f"node: {completed[0]} of {instances} instances completed")
            seconds = time.perf_counter() - started
            status = await node.service.status()
        finally:
            await node.stop()
            logger.setLevel(level)
    result = _rate(instances, seconds)
    result["create_per_second"] = round(instances / created_s, 1)
    batches = [p for p in status["partitions"] if p.get("local")]
    sent = sum(p.get("batches_sent", 0) for p in batches)
    commands = sum(p.get("commands_sent", 0) for p in batches)
    result["commands_per_batch"] = round(commands / sent, 1) if sent else 0.0
    return result


async def _wait_ready(node: Node, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not node.service.is_ready():
        if time.monotonic() > deadline:
            raise RuntimeError("node did not become ready")
        await asyncio.sleep(0.02)


def _check_all_ended(name: str, completed: int, instances: int) -> None:
    if completed != instances:
        raise RuntimeError(f"{name}: {completed} of {instances} instances completed")


def _rate(instances: int, seconds: float) -> dict[str, Any]:
    return {
        "instances": instances,
        "seconds": round(seconds, 4),
        "per_second": round(instances / seconds, 1) if seconds > 0 else 0.0,
    }


def run(
    instances: int,
    vs_spiff: bool,
    node: bool = True,
    rounds: int = 3,
    batch: int = ENGINE_BATCH_COMMANDS,
    store_kind: str = "memory",
) -> dict[str, Any]:
    """Every engine run; the dict that `scripts/bench engine` prints.

    The engine and SpiffWorkflow run `rounds` times, interleaved, and the best round of each
    counts (as `timeit` does): on a shared machine the slow rounds measure the neighbours.
    """
    results: dict[str, Any] = {"benchmark": "engine", "instances": instances, "rounds": rounds}
    if (batch, store_kind) != (ENGINE_BATCH_COMMANDS, "memory"):
        results["engine_setup"] = {"batch": batch, "store": store_kind}
    engine_runs: list[dict[str, Any]] = []
    spiff_runs: list[dict[str, Any]] = []
    for _ in range(rounds):
        engine_runs.append(run_engine(instances, batch, store_kind))
        if vs_spiff:
            spiff_runs.append(run_spiff(instances))
    results["engine"] = _best(engine_runs)
    if node:
        results["node"] = run_node(instances)
    if vs_spiff:
        results["spiff"] = _best(spiff_runs)
        spiff_rate = results["spiff"]["per_second"]
        if spiff_rate:
            results["engine_vs_spiff"] = round(results["engine"]["per_second"] / spiff_rate, 2)
            if node:
                results["node_vs_spiff"] = round(results["node"]["per_second"] / spiff_rate, 2)
    return results


CALIBRATION_INSTANCES = 2000  # ~0.15 s per round on our machine
CALIBRATION_ROUNDS = 3


def engine_per_second(
    instances: int = CALIBRATION_INSTANCES, rounds: int = CALIBRATION_ROUNDS
) -> float:
    """The pure engine's instances per second here and now (best of `rounds`).

    The cluster and node benches print it next to their own numbers, run before their
    processes start, so every result carries the machine's speed at the time: a slow run on
    a busy machine shows as a low calibration too, and runs compare by ratio.
    """
    return _best([run_engine(instances) for _ in range(rounds)])["per_second"]


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(max(runs, key=lambda r: r["per_second"]))
    best["rounds_per_second"] = [r["per_second"] for r in runs]
    return best
