"""Load and probes of the partition suite, each inside a client network namespace of the lab.

- `NsCreators`: the fault suite's REST creators (`faults.load.Creators`), their threads inside a
  client namespace, so the lab's filters decide which nodes they reach.
- `StaleReader`: reads, through chosen nodes, the instances other clients were *just* told
  exist. A 404 for a key whose creation was acknowledged before the read was sent is a stale
  read: linearizability says the read must see it. Its keys come from a "witness": creators
  with a short timeout, so new keys keep being acknowledged as soon as any leader serves,
  whatever the main load's clients are waiting for.
- `Helper`: a helper process (SDK workers, the delay proxy) started inside a namespace and
  driven by lines on its stdin.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from faults.load import Creators

from partitions.netlab import entered
from zennode.engine.keys import partition_of

READ_TIMEOUT_S = 2.0
READ_PAUSE_S = 0.005
RECENT_KEYS = 300  # newest acknowledged keys a reader chooses from
TESTS_DIR = Path(__file__).resolve().parent.parent


class NsCreators(Creators):
    """`Creators` whose threads run inside network namespace `netns`."""

    def __init__(
        self, netns: str, urls: dict[int, str], threads: int, seed: int, timeout_s: float = 5.0
    ) -> None:
        super().__init__(urls, threads=threads, seed=seed, timeout_s=timeout_s)
        self.netns = netns

    def _run(self, seed: int) -> None:
        with entered(self.netns):
            super()._run(seed)

    def acked_between(self, start: float, end: float, sent_after: float) -> list[int]:
        """Keys acknowledged in [start, end) for requests sent after `sent_after`."""
        with self._lock:
            return [
                key
                for key, at in self.acked.items()
                if start <= at < end and self.sent_at.get(key, 0.0) > sent_after
            ]


@dataclass
class StaleRead:
    key: int
    node: int
    acked_at: float
    sent_at: float
    answered_at: float


@dataclass
class ReadStats:
    reads: int = 0
    found: int = 0
    unavailable: int = 0
    stale: list[StaleRead] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)  # of answered reads


class StaleReader:
    """One thread reading the newest acknowledged key of `partition` through `urls` (node id
    -> base URL), from inside `netns`. One per partition: a read that waits for an unreachable
    leader of one partition does not hold up the reads of the others."""

    def __init__(
        self,
        netns: str,
        source: Creators,
        partition: int,
        urls: dict[int, str],
        seed: int,
        params: dict[str, str] | None = None,
    ) -> None:
        self.netns = netns
        self.source = source
        self.partition = partition
        self.urls = urls
        self.params = params or {}
        self.stats = ReadStats()
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"reader-{netns}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> ReadStats:
        self._stop.set()
        self._thread.join(timeout=2 * READ_TIMEOUT_S + 1)
        return self.stats

    def _pick(self) -> tuple[int, float] | None:
        for key, acked_at in self.source.recent(RECENT_KEYS):
            if partition_of(key) == self.partition:
                return key, acked_at
        return None

    def _run(self) -> None:
        with entered(self.netns), httpx.Client(timeout=READ_TIMEOUT_S) as http:
            while not self._stop.is_set():
                picked = self._pick()
                if picked is None:
                    time.sleep(0.05)
                    continue
                key, acked_at = picked
                node = self._rng.choice(sorted(self.urls))
                sent = time.monotonic()
                try:
                    response = http.get(
                        f"{self.urls[node]}/v1/process-instances/{key}", params=self.params
                    )
                except httpx.HTTPError:
                    self.stats.reads += 1
                    self.stats.unavailable += 1
                    continue
                answered = time.monotonic()
                self.stats.reads += 1
                if response.status_code == 200:
                    self.stats.found += 1
                    self.stats.latencies_s.append(answered - sent)
                elif response.status_code == 404 and acked_at < sent:
                    self.stats.stale.append(StaleRead(key, node, acked_at, sent, answered))
                    self.stats.latencies_s.append(answered - sent)
                else:
                    self.stats.unavailable += 1
                time.sleep(READ_PAUSE_S)


class Helper:
    """`python -m MODULE ARGS` inside `netns` (via `ip netns exec`), talking JSON lines.

    It must print `ready` first; `send` writes a command line; `finish` closes its stdin and
    returns the last JSON line it printed. Every wait is bounded.
    """

    def __init__(self, netns: str, module: str, args: list[str], log_path: Path) -> None:
        path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in finish/kill
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def _line(self, timeout_s: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout_s)
        except queue.Empty as exc:
            raise TimeoutError(f"{self.process.args} said nothing for {timeout_s} s") from exc

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        line = self._line(timeout_s)
        if line != "ready":
            self.kill()
            raise RuntimeError(f"{self.process.args} did not start: {line!r}")

    def send(self, order: dict[str, Any], timeout_s: float = 10.0) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        self._line(timeout_s)  # the acknowledgement

    def finish(self, timeout_s: float = 30.0) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        last: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        while (line := self._line(max(0.1, deadline - time.monotonic()))) is not None:
            if line.startswith("{"):
                last = json.loads(line)
        self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        self._log.close()
        return last

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
