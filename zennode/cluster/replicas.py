"""Building this node's partition replicas from the config: an `Engine` and a Raft `Partition`.

A factory `(config, partition_id, on_events) -> (engine, partition)` is what `Cluster` calls
for each local partition; tests pass their own (stand-in partitions) to `Node`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zennode.cluster import idempotency
from zennode.config import Config

if TYPE_CHECKING:
    from zennode.cluster.partition import PartitionSettings

OnEvents = Callable[[list[dict[str, Any]]], None]
ReplicaFactory = Callable[[Config, int, OnEvents], tuple[Any, Any]]


def build_replica(config: Config, partition_id: int, on_events: OnEvents) -> tuple[Any, Any]:
    """An `Engine` and a Raft `Partition` for one local replica (the production factory)."""
    from zennode.cluster.partition import Partition
    from zennode.engine import Engine

    engine = Engine(partition_id, activations_max=config.limits.loop_iterations_max)
    partition = Partition(
        partition_settings(config, partition_id), apply_fn=engine.apply, on_events=on_events
    )
    return engine, partition


def partition_settings(config: Config, partition_id: int) -> PartitionSettings:
    """The `PartitionSettings` of this node's replica of `partition_id`, from the config."""
    from zennode.cluster.partition import PartitionSettings

    replicas = config.replicas_of(partition_id)
    peers = [
        f"{m.host}:{m.ports.raft(partition_id)}"
        for m in config.members
        if m.id != config.node_id and m.id in replicas
    ]
    limits = config.limits
    return PartitionSettings(
        partition_id=partition_id,
        self_address=f"{config.host}:{config.ports.raft(partition_id)}",
        data_dir=Path(config.data_dir) / f"partition-{partition_id}",
        peer_addresses=peers,
        secret=config.secret,
        raft_min_timeout_s=config.raft.min_timeout_s,
        raft_max_timeout_s=config.raft.max_timeout_s,
        batch_max_items=limits.batch_items_max,
        batch_max_bytes=limits.batch_bytes_max,
        batch_max_delay_ms=float(limits.batch_wait_ms),
        batch_adapt_max_ms=float(config.raft.batch_adapt_max_ms),
        batch_adapt_fraction=config.raft.batch_adapt_fraction,
        push_offers=config.raft.activate_in_batch,
        queue_max=limits.command_queue_max,
        command_max_bytes=limits.request_bytes_max,
        compaction_bytes=config.raft.compaction_bytes,
        fsync=config.raft.fsync,
        idempotency_limits=idempotency.Limits(
            client_window_ms=limits.idempotency_window_s * 1000,
            client_keys_max=limits.idempotency_keys_max,
            node_window_ms=node_key_window_ms(limits.leader_wait_ms, limits.request_timeout_ms),
        ),
    )


def node_key_window_ms(leader_wait_ms: int, request_timeout_ms: int) -> int:
    """How long a node's own key of a forwarded command is kept: the node re-sends it for at
    most `leader_wait_ms`, each try waiting up to `request_timeout_ms`; four times that (at
    least a minute) covers a copy that waited in a queue. Longer only costs space (with a
    constant load the keys of ten minutes were several MB per node)."""
    return max(60_000, 4 * (leader_wait_ms + request_timeout_ms))
