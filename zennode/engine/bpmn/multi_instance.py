"""Multi-instance activities: a body that runs the activity once per item of a collection.

The body is an element instance (`elementType: multiInstanceBody`) in the activity's scope; it
holds the collection, counters and collected outputs, and the activity's boundary events. Each
run of the activity happens inside an *iteration* element instance (a scope whose local
variables are the input element and `loopCounter`), so parallel iterations do not see each
other's item. Parallel bodies start every iteration at once, sequential ones one after another.
After each iteration the output element is stored at its index and the completion condition is
checked (with `numberOfInstances`, `numberOfCompletedInstances`, `numberOfActiveInstances`);
when it holds, the remaining iterations are terminated. The output collection propagates from
the body's scope when the body completes. Each iteration is a variable scope: it holds the
input element and `loopCounter`, and the inner activity's input-mapped locals (Zeebe's inner
instance), so parallel iterations keep apart what they declare locally.
"""

from __future__ import annotations

from typing import Any

from zennode.engine import history
from zennode.engine import model as m
from zennode.engine.bpmn.runner import EXTRACT_VALUE_ERROR, Runner
from zennode.engine.expressions import ExpressionFailed, evaluate, evaluate_condition
from zennode.engine.variables import assign_into

ITEMS_MAX = 10_000


def activate_body(runner: Runner, element: m.Element, scope: int, flow: str | None) -> None:
    loop = element.loop
    assert loop is not None
    try:
        items = evaluate(loop.input_collection, runner.context(scope))
        if not isinstance(items, list):
            raise ExpressionFailed(
                f"input collection '{loop.input_collection.source}' is not a list"
            )
        if len(items) > ITEMS_MAX:
            raise ExpressionFailed(f"input collection has more than {ITEMS_MAX} items")
        prepared = runner.prepare_waits(runner.boundary_events(element, scope), scope)
    except ExpressionFailed as exc:
        runner.incident_at(element, scope, flow, EXTRACT_VALUE_ERROR, exc.message)
        return
    state: dict[str, Any] = {"items": items, "next": 0, "active": 0, "completed": 0}
    if loop.output_collection:
        state["results"] = [None] * len(items)
    body = runner.new_element_instance(element, scope, elementType="multiInstanceBody", mi=state)
    runner.open_waits(body, prepared)
    if not items:
        _complete_body(runner, element, body)
    elif loop.sequential:
        _start_iteration(runner, element, body)
    else:
        for _ in range(len(items)):
            _start_iteration(runner, element, body)


def _start_iteration(runner: Runner, element: m.Element, body: int) -> None:
    loop = element.loop
    assert loop is not None
    state = runner.elements[str(body)]["mi"]
    index = state["next"]
    local: dict[str, Any] = {"loopCounter": index + 1}
    if loop.input_element:
        local[loop.input_element] = state["items"][index]
    state["next"] = index + 1
    state["active"] += 1
    iteration = runner.new_element_instance(
        element,
        body,
        elementType="multiInstanceIteration",
        iteration=True,
        index=index,
        locals=local,
    )
    runner.enqueue(element.id, iteration, None)


def iteration_done(runner: Runner, element: m.Element, iteration: int) -> None:
    """One run of the activity finished: collect its output, then continue or complete."""
    loop = element.loop
    assert loop is not None
    record = runner.elements[str(iteration)]
    body = record["scope"]
    state = runner.elements[str(body)]["mi"]
    context = runner.context(iteration)
    state["active"] -= 1
    state["completed"] += 1
    try:
        if loop.output_collection and loop.output_element is not None:
            state["results"][record["index"]] = evaluate(loop.output_element, context)
        done = False
        if loop.completion_condition is not None:
            counters = {
                "numberOfInstances": len(state["items"]),
                "numberOfCompletedInstances": state["completed"],
                "numberOfActiveInstances": state["active"],
            }
            done = evaluate_condition(loop.completion_condition, {**context, **counters})
    except ExpressionFailed as exc:
        runner.drop_element_instance(iteration, history.COMPLETED)
        runner.open_incident(body, element.id, EXTRACT_VALUE_ERROR, exc.message)
        runner.elements[str(body)]["state"] = "incident"
        return
    runner.drop_element_instance(iteration, history.COMPLETED)
    if done:
        runner.terminate_within(body)
        _complete_body(runner, element, body)
    elif loop.sequential and state["next"] < len(state["items"]):
        _start_iteration(runner, element, body)
    elif state["active"] == 0 and state["next"] >= len(state["items"]):
        _complete_body(runner, element, body)


def resume_body(runner: Runner, element: m.Element, body: int) -> None:
    """After an incident on the body: start the next iteration or complete, as due."""
    loop = element.loop
    assert loop is not None
    state = runner.elements[str(body)]["mi"]
    if state["active"] > 0:
        return  # the running iterations continue it
    if loop.sequential and state["next"] < len(state["items"]):
        _start_iteration(runner, element, body)
    else:
        _complete_body(runner, element, body)


def _complete_body(runner: Runner, element: m.Element, body: int) -> None:
    loop = element.loop
    assert loop is not None
    record = runner.elements[str(body)]
    if loop.output_collection:
        try:
            scope = record["scope"]
            collected: dict[str, Any] = {}
            results = record["mi"].get("results", [])
            assign_into(collected, loop.output_collection, results, runner.context(scope))
            runner.merge(scope, collected)  # propagated from the body's scope, as in Zeebe
        except ExpressionFailed as exc:
            runner.open_incident(body, element.id, EXTRACT_VALUE_ERROR, exc.message)
            return
    runner.remove_element_instance(body)
    runner.leave(element, record["scope"])
