"""CPU time used by the node processes, read from /proc (Linux; None elsewhere).

On a shared machine throughput and latency move with whatever else runs, but the CPU the
nodes spend per completed instance barely does: it is the figure to compare across runs
when judging a change to the nodes' own cost.
"""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (its threads included), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself contain spaces.
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    except (IndexError, ValueError):
        return None


def cpu_seconds(pids: list[int]) -> float | None:
    """Summed CPU seconds of `pids`; None if any cannot be read (not Linux, gone)."""
    total = 0.0
    for pid in pids:
        value = process_cpu_seconds(pid)
        if value is None:
            return None
        total += value
    return total


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 1)
    except OSError:
        return None
