"""Every model of the shared BPMN corpus deploys, or is rejected with a BadRequest naming why.

The corpus lives in `<repo>/../shared/bpmn-corpus` (`ZENNODE_SHARED` overrides `<repo>/../shared`).
Run with `-s` to see the count table (deployed / rejected by reason).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from zennode.engine import Engine
from zennode.engine.storage import MemoryStore
from zennode.errors import BadRequest, TooLarge

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ZENNODE_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "bpmn-corpus"
FILES = sorted(CORPUS.rglob("*.bpmn")) if CORPUS.is_dir() else []


def reasons_of(message: str) -> list[str]:
    """'unsupported elements: A (x/y), B (z)' -> ['unsupported x/y', 'unsupported z']."""
    if message.startswith("unsupported elements: "):
        kinds = re.findall(r" \(([A-Za-z]+(?:/[A-Za-z +]+)?)[:)]", message)
        return [f"unsupported {kind}" for kind in kinds]
    return ["invalid: " + re.sub(r"\b[\w.-]*_[\w.-]*\b|'[^']*'", "…", message)[:90]]


@pytest.mark.skipif(not FILES, reason=f"no corpus at {CORPUS}")
def test_every_corpus_model_deploys_or_is_rejected_with_a_reason() -> None:
    engine = Engine(partition_id=1)
    store = MemoryStore()
    deployed: list[str] = []
    rejected: dict[str, str] = {}
    by_reason: Counter[str] = Counter()
    for path in FILES:
        name = str(path.relative_to(CORPUS))
        with store.write() as txn:
            outcome = engine.apply(
                txn, {"type": "deploy", "now_ms": 1, "xml": path.read_text(encoding="utf-8")}
            )
        if outcome.ok:
            deployed.append(name)
            continue
        error = outcome.error
        assert isinstance(error, (BadRequest, TooLarge)), f"{name}: {error!r}"
        assert error.message, name
        rejected[name] = error.message
        for reason in set(reasons_of(error.message)):
            by_reason[reason] += 1
    # Every unsupported-element rejection names at least one element id and its type.
    for name, message in rejected.items():
        if message.startswith("unsupported elements: "):
            assert re.search(r"\S+ \([^)]+\)", message), (name, message)

    counts = f"{len(FILES)} models, {len(deployed)} deployed, {len(rejected)} rejected"
    print(f"\ncorpus {CORPUS}: {counts}")
    print(f"{'models':>7}  reason (a model may have several)")
    for reason, count in by_reason.most_common():
        print(f"{count:>7}  {reason}")
    if os.environ.get("ZENNODE_CORPUS_VERBOSE"):
        for name in deployed:
            print(f"deployed  {name}")
        for name, message in rejected.items():
            print(f"rejected  {name}: {message[:200]}")
    assert len(deployed) + len(rejected) == len(FILES)
    assert deployed, "no corpus model deploys at all"
