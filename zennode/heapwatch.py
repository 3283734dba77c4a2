"""A debug hook: what a node process's Python heap grows by, written to a file every minute.

Why: a soak showed the nodes' resident memory creeping up; RSS alone cannot say whether it is
LMDB's mapped pages, the in-memory Raft log or a Python structure that never shrinks. When
`ZENNODE_HEAPWATCH_DIR` is set, `zennode start` starts this before the node: `tracemalloc`
(`ZENNODE_HEAPWATCH_FRAMES` frames, default 6) and a daemon thread that every
`ZENNODE_HEAPWATCH_S` seconds (default 60) appends to `DIR/heap-<pid>.txt` the 25 allocation
sites that grew most since the first snapshot and the 25 object types whose counts grew most
(`gc`). Off by default: tracemalloc costs time and memory (a 3-node soak ran at a tenth of its
rate with 10 frames); it is for investigations (docs/benchmarks.md, the soak section), never
production.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

DIR_ENV = "ZENNODE_HEAPWATCH_DIR"
PERIOD_ENV = "ZENNODE_HEAPWATCH_S"
FRAMES_ENV = "ZENNODE_HEAPWATCH_FRAMES"
TOP = 25


def type_counts() -> Counter[str]:
    """Live objects tracked by the collector, by type name."""
    return Counter(type(obj).__name__ for obj in gc.get_objects())


def report(base: tracemalloc.Snapshot, base_types: Counter[str], now: tracemalloc.Snapshot) -> str:
    """The sites and types that grew most since `base`, as text."""
    lines = [f"--- {time.strftime('%H:%M:%S')} traced {tracemalloc.get_traced_memory()[0]} B"]
    for stat in now.compare_to(base, "traceback")[:TOP]:
        # oldest frame first, the allocating line last
        frames = " -> ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in stat.traceback)
        lines.append(f"{stat.size_diff:+d} B {stat.count_diff:+d} objs  {frames}")
    grown = type_counts()
    grown.subtract(base_types)
    lines.append("types: " + ", ".join(f"{name} {n:+d}" for name, n in grown.most_common(TOP)))
    return "\n".join(lines) + "\n"


def _watch(path: Path, period_s: float) -> None:
    time.sleep(period_s)  # the first snapshot after start-up, so start-up is not "growth"
    base, base_types = tracemalloc.take_snapshot(), type_counts()
    while True:
        time.sleep(period_s)
        text = report(base, base_types, tracemalloc.take_snapshot())
        with path.open("a") as out:
            out.write(text)


def start_from_env() -> bool:
    """Start watching when `ZENNODE_HEAPWATCH_DIR` is set; whether it was."""
    directory = os.environ.get(DIR_ENV)
    if not directory:
        return False
    period_s = float(os.environ.get(PERIOD_ENV, "60"))
    Path(directory).mkdir(parents=True, exist_ok=True)
    tracemalloc.start(int(os.environ.get(FRAMES_ENV, "6")))
    path = Path(directory) / f"heap-{os.getpid()}.txt"
    threading.Thread(target=_watch, args=(path, period_s), name="heapwatch", daemon=True).start()
    return True
