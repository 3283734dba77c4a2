"""Schema-driven fuzzing of the REST API (schemathesis, from `/v1/openapi.json`): zero 5xx.

A real node is started for the module and seeded with a deployed model, waiting jobs and an
incident; about half of the generated cases get a real key in their path or body so that the
fuzzer reaches completion, failure, cancellation and resolution code, not only 404s. Both
valid and invalid inputs are generated (schemathesis' positive and negative modes).

Bounded: `FUZZ_EXAMPLES` cases per operation (env `ZENNODE_FUZZ_EXAMPLES` raises it for a
longer run). The number of cases sent is printed at the end (docs/security.md has the figures).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from support.nodes import NodeThread, node_config

from fuzz.seed import Seeded, seed
from zennode.node import Node

FUZZ_EXAMPLES = int(os.environ.get("ZENNODE_FUZZ_EXAMPLES", "25"))
REQUEST_TIMEOUT_S = 15.0

_state: dict[str, Any] = {"sent": 0, "by_status": {}}


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeThread, Seeded]]:
    config = node_config(tmp_path_factory.mktemp("fuzz") / "data", 2)
    runner = NodeThread(Node(config, serve_grpc=False))
    runner.start()
    try:
        with httpx.Client(base_url=runner.url, timeout=REQUEST_TIMEOUT_S) as http:
            seeded = seed(http)
        yield runner, seeded
    finally:
        runner.stop()
        print(f"\nREST fuzz: {_state['sent']} requests, statuses {_state['by_status']}")


def _with_real_keys(case: Any, seeded: Seeded, rng: random.Random) -> None:
    """Half of the time, put an existing key where the case has a key parameter or field."""
    if rng.random() < 0.5:
        return
    for name in list(case.path_parameters or {}):
        if seeded.keys.get(name):
            case.path_parameters[name] = rng.choice(seeded.keys[name])
    if isinstance(case.body, dict):
        for name in ("jobKey", "processDefinitionKey", "processInstanceKey"):
            if name in case.body and seeded.keys.get(name):
                case.body[name] = rng.choice(seeded.keys[name])
        if "bpmnProcessId" in case.body:
            case.body["bpmnProcessId"] = "fuzzed"


def _check(case: Any, seeded: Seeded) -> None:
    rng = random.Random(repr(case.path_parameters) + repr(case.body)[:200])
    _with_real_keys(case, seeded, rng)
    response = case.call(timeout=REQUEST_TIMEOUT_S)
    _state["sent"] += 1
    by_status = _state["by_status"]
    by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    if response.status_code >= 400 and response.status_code != 405:
        body = response.json()
        assert set(body) >= {"code", "message"}, body  # one error shape everywhere


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_server_errors(fuzz_node: tuple[NodeThread, Seeded], mode: Any) -> None:
    """Every operation, `FUZZ_EXAMPLES` cases each, valid (positive) or invalid (negative)."""
    runner, seeded = fuzz_node
    schema = schemathesis.openapi.from_url(f"{runner.url}/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # the whole API, not an empty document

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            _check(case, seeded)

        try:
            run()
        except Unsatisfiable:
            # Negative mode: nothing in this operation can be made invalid (no parameters).
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
