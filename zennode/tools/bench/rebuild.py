"""`scripts/bench rebuild`: how fast a wiped replica catches up, while the cluster serves load.

Why: recovery time must follow the live data. This starts a local cluster (3 nodes, one
partition on all three), fills the partition's state to `state_mb` with instances carrying a
large variable, then SIGKILLs a follower, deletes its data directory, starts it again and,
while `clients` REST clients keep creating small instances, polls every node's
`/system/status` until the follower's applied index reaches the leader's. It prints one JSON
line: the leader's state size (LMDB in use, snapshot file), the seconds to catch up and the
rate in MB/s of state. The cluster is always stopped (`launcher.down`, by PID).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from zennode.tools.bench.models import one_task_model
from zennode.tools.ports import reserve_cluster

PROCESS_ID = "bench_rebuild"
PAYLOAD_BYTES = 100_000  # one instance's variable: few instances, much state
FILL_CLIENTS = 8
CATCH_UP_TIMEOUT_S = 1800.0
POLL_S = 0.2


def _flat_model() -> bytes:
    # a one-task model whose task nobody works on: the instance and its variables stay
    return one_task_model(PROCESS_ID, job_type="bench-rebuild-nobody").encode()


async def _status(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    status = (await http.get(f"{url}/system/status")).json()
    [partition] = [p for p in status["partitions"] if p["partition"] == 1]
    return dict(partition)


async def _leader(http: httpx.AsyncClient, urls: list[str]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for i, url in enumerate(urls):
            try:
                if (await _status(http, url)).get("role") == "leader":
                    return i
            except (httpx.HTTPError, KeyError, ValueError):
                pass
        await asyncio.sleep(POLL_S)
    raise RuntimeError("no leader for partition 1 within 60 s")


async def _fill(
    http: httpx.AsyncClient, url: str, state_bytes: int, random_payload: bool = False
) -> int:
    """Create instances with a large variable until the leader's LMDB holds `state_bytes`
    (`random_payload`: each variable random base64 text, which zlib cannot shrink)."""
    created = 0

    def blob() -> str:
        if random_payload:
            return base64.b64encode(os.urandom(PAYLOAD_BYTES * 3 // 4)).decode()
        return "x" * PAYLOAD_BYTES

    async def client() -> None:
        nonlocal created
        while True:
            status = await _status(http, url)
            if status["lmdb_bytes"] >= state_bytes:
                return
            for _ in range(10):
                reply = await http.post(
                    f"{url}/v1/process-instances",
                    json={"bpmnProcessId": PROCESS_ID, "variables": {"blob": blob()}},
                )
                if reply.status_code == 201:
                    created += 1
                elif reply.status_code != 503:
                    raise RuntimeError(f"create failed: {reply.status_code} {reply.text[:200]}")

    await asyncio.gather(*(client() for _ in range(FILL_CLIENTS)))
    return created


async def _load(http: httpx.AsyncClient, urls: list[str], stop: asyncio.Event) -> int:
    created = 0

    async def client(i: int) -> None:
        nonlocal created
        while not stop.is_set():
            try:
                reply = await http.post(
                    f"{urls[i % len(urls)]}/v1/process-instances",
                    json={"bpmnProcessId": PROCESS_ID, "variables": {"n": i}},
                )
                created += reply.status_code == 201
            except httpx.HTTPError:
                await asyncio.sleep(0.1)  # the node being rebuilt, for a moment

    await asyncio.gather(*(client(i) for i in range(4)))
    return created


async def _measure(
    directory: Path, cluster: dict[str, Any], state_mb: float, random_payload: bool
) -> dict[str, Any]:
    from zennode.tools import launcher

    urls = [node["http"] for node in cluster["nodes"]]
    async with httpx.AsyncClient(timeout=60) as http:
        leader = await _leader(http, urls)
        (
            await http.post(f"{urls[leader]}/v1/process-definitions", content=_flat_model())
        ).raise_for_status()
        fill_started = time.monotonic()
        created = await _fill(http, urls[leader], int(state_mb * 1024 * 1024), random_payload)
        fill_s = time.monotonic() - fill_started
        leader = await _leader(http, urls)
        follower = (leader + 1) % len(urls)
        node_id = cluster["nodes"][follower]["id"]
        before = await _status(http, urls[leader])
        launcher.kill_node(directory, node_id)
        shutil.rmtree(directory / f"node{node_id}" / "data", ignore_errors=True)
        stop = asyncio.Event()
        others = [u for i, u in enumerate(urls) if i != follower]
        load = asyncio.ensure_future(_load(http, others, stop))
        started = time.monotonic()
        launcher.start_node(directory, node_id)
        caught_up_s = None
        phases: dict[str, float] = {}  # when the follower answered, got bytes, installed
        try:
            while time.monotonic() - started < CATCH_UP_TIMEOUT_S:
                target = (await _status(http, urls[leader]))["applied_index"]
                try:
                    status = await _status(http, urls[follower])
                    mine = status["applied_index"]
                except (httpx.HTTPError, KeyError, ValueError):
                    status, mine = {}, 0
                _note_phases(phases, status, time.monotonic() - started, before)
                if mine >= target:
                    caught_up_s = time.monotonic() - started
                    break
                await asyncio.sleep(POLL_S)
        finally:
            stop.set()
            load_created = await load
        after = await _status(http, urls[follower])
    state = int(before["lmdb_bytes"])
    return {
        "benchmark": "rebuild",
        "state_mb_target": state_mb,
        "fill_instances": created,
        "fill_seconds": round(fill_s, 1),
        "leader_lmdb_bytes": state,
        "leader_snapshot_bytes": int(before.get("snapshot_bytes") or 0),
        "rebuilt_lmdb_bytes": int(after.get("lmdb_bytes") or 0),
        "snapshots_installed": after.get("snapshots_installed"),
        "snapshot_transfer": after.get("snapshot_transfer"),
        "catch_up_seconds": round(caught_up_s, 2) if caught_up_s is not None else None,
        "phases_seconds": phases,
        "mb_per_s": round(state / 1024 / 1024 / caught_up_s, 2) if caught_up_s else None,
        "load_created_meanwhile": load_created,
    }


def _note_phases(
    phases: dict[str, float], status: dict[str, Any], at_s: float, leader: dict[str, Any]
) -> None:
    """First time (s after the restart) the follower answered, held snapshot bytes, had
    received as many bytes as the leader's snapshot had at the wipe, and had installed the
    snapshot: where the catch-up time goes."""
    if not status:
        return
    phases.setdefault("answering", round(at_s, 2))
    received = (status.get("snapshot_transfer") or {}).get("received_bytes_received", 0)
    if received:
        phases.setdefault("receiving", round(at_s, 2))
    if received >= int(leader.get("snapshot_bytes") or 0) > 0:
        phases.setdefault("received", round(at_s, 2))
    if status.get("snapshots_installed"):
        phases.setdefault("installed", round(at_s, 2))


def run(
    state_mb: float = 100.0,
    compaction_bytes: int = 16 * 1024 * 1024,
    random_payload: bool = False,
) -> dict[str, Any]:
    """`compaction_bytes` below the state size makes the leader compact its log, so the wiped
    follower gets a snapshot (then the log since it), not the whole log replayed."""
    from zennode.tools import launcher

    extra = {
        "log": {"level": "WARNING", "format": "text"},
        "retention": {"history_ttl": "30d"},
        "raft": {"compaction_bytes": compaction_bytes},
        "limits": {"request_bytes_max": 4 * 1024 * 1024},
    }
    with tempfile.TemporaryDirectory(prefix="zennode-bench-rebuild-") as tmp:
        directory = Path(tmp)
        try:
            cluster = launcher.up(
                directory,
                nodes=3,
                partitions=1,
                replication=3,
                base_port=reserve_cluster(3, 1).base,
                extra=extra,
            )
            result = asyncio.run(_measure(directory, cluster, state_mb, random_payload))
            result["compaction_bytes"] = compaction_bytes
            result["random_payload"] = random_payload
        except BaseException:
            for log in sorted(directory.glob("node*.log")):
                tail = log.read_text(errors="replace")[-1500:]
                sys.stderr.write(f"{log.name} (tail):\n{tail}\n")
            raise
        finally:
            launcher.down(directory)
    print(json.dumps(result), flush=True)
    return result
