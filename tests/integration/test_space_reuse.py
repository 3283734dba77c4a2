"""Space is reused: with retention on and a constant load, the LMDB file, the Raft log and the
snapshot stop growing once the first instances are deleted (LMDB reuses freed pages, log
compaction bounds the log). The same load with a long TTL is the control: it keeps growing.

Small scale: one node, one partition, straight-through instances carrying ~1 KB of variables,
`history_ttl` 0, the log compacted every 256 KiB.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from support import bpmn
from support.nodes import NodeThread
from support.waits import wait_until

from zennode.config import Config, Retention

ROUNDS = 8
PER_ROUND = 300
CONCURRENCY = 25
COMPACTION_BYTES = 256 * 1024
WARMUP_ROUNDS = 3  # the first deletions, LMDB's free list and a few compactions happen here
PAYLOAD = {"blob": "x" * 1000}
WAIT_S = 60.0
COLUMNS = ("lmdb_bytes", "lmdb_file_bytes", "journal_bytes", "snapshot_bytes")


def _configure(ttl: str) -> Callable[[Config], Config]:
    def configure(config: Config) -> Config:
        return dataclasses.replace(
            config,
            raft=dataclasses.replace(config.raft, compaction_bytes=COMPACTION_BYTES),
            retention=Retention(history_ttl=ttl, purge_interval_ms=50, purge_chunk=100),
        )

    return configure


async def _round(runner: NodeThread) -> None:
    service = runner.node.service
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with sem:
            await service.create_instance(bpmn_process_id="flat", variables=PAYLOAD)

    await asyncio.gather(*(one() for _ in range(PER_ROUND)))


def _sizes(runner: NodeThread, ttl: str) -> list[dict[str, Any]]:
    """Run the load round by round; after each (and its deletions), the partition's sizes."""
    flat = bpmn.bpmn(bpmn.start() + bpmn.end() + bpmn.chain("start", "end"), "flat")
    runner.call(runner.node.service.deploy(flat.encode()))
    partition = runner.node.cluster.local_partitions[1]
    rows = []
    for round_no in range(ROUNDS):
        runner.call(_round(runner), timeout=WAIT_S)
        if ttl == "0":
            wait_until(
                lambda total=PER_ROUND * (round_no + 1): runner.node.retention.deleted >= total,
                WAIT_S,
                "the round's instances to be deleted",
            )
        status = partition.status()
        rows.append({column: status[column] for column in COLUMNS})
    return rows


def _growth(rows: list[dict[str, Any]], key: str) -> int:
    return rows[-1][key] - rows[WARMUP_ROUNDS - 1][key]


def test_lmdb_log_and_snapshot_plateau_with_retention_and_grow_without(
    start_node: Callable[..., NodeThread],
) -> None:
    kept = _sizes(start_node(configure=_configure("1h")), "1h")
    purged = _sizes(start_node(configure=_configure("0")), "0")
    print("\nround  purged (lmdb file, log, snapshot)  kept (lmdb file, log, snapshot)")
    for i, (p, k) in enumerate(zip(purged, kept, strict=True)):
        print(i, [p[c] for c in COLUMNS[1:]], [k[c] for c in COLUMNS[1:]])
    # the control: this load does write (1 KB of variables per instance, kept for an hour)
    assert _growth(kept, "lmdb_file_bytes") > PER_ROUND * 1000 * (ROUNDS - WARMUP_ROUNDS)
    assert _growth(kept, "snapshot_bytes") > PER_ROUND * 1000 * (ROUNDS - WARMUP_ROUNDS) // 2
    # with retention: LMDB reuses the freed pages and the snapshot holds only what is live
    assert _growth(purged, "lmdb_file_bytes") <= _growth(kept, "lmdb_file_bytes") // 10
    # (a snapshot also holds the instances not deleted yet at its moment: it varies, bounded)
    assert max(r["snapshot_bytes"] for r in purged) < min(
        r["snapshot_bytes"] for r in kept[WARMUP_ROUNDS:]
    )
    # compaction bounds the Raft log in both runs (a snapshot every COMPACTION_BYTES)
    for rows in (purged, kept):
        assert max(r["journal_bytes"] for r in rows) <= 2 * COMPACTION_BYTES
