"""Prometheus metrics of one node, on the node's own `CollectorRegistry`.

Why a per-node registry: several nodes run in one test process (and a library user may embed
more than one); the global registry would mix their numbers and refuse duplicate names.

Two sources, and never a poll of LMDB on the hot path:
- **Events** (`on_events`, on a leader's tick thread after each applied batch) drive the job,
  instance and incident counters and the latency histograms. The listener only does dict
  lookups and counter increments: it must not block the tick thread.
- **Scrape time** (`_ScrapeCollector.collect`): Raft role/term/indexes, command queue depth,
  LMDB size and snapshot age come from `partition.status()` and one `stat()`; job stream
  numbers from the node's `JobStreams.snapshot()`. They cost nothing between scrapes.

Gauges driven by events (`zennode_process_instances_active`, `zennode_incidents_open`) count
what this replica saw while leading: they start at 0 when a node starts, so after a restart
or a leader change they show the change since then, not the whole state.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from zennode.cluster.client import Cluster
    from zennode.jobs.streams import JobStreams

log = logging.getLogger("zennode.metrics")

# Seconds; the low end resolves single-replica commits (~2 ms), the high end lock timeouts.
LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
APPLY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
JOB_TYPES_MAX = 200  # distinct job-type label values; more are counted as "other"
OTHER_TYPE = "other"

ROLE_VALUES = {"follower": 0, "candidate": 1, "leader": 2}

# Engine event -> job action label.
_JOB_ACTIONS = {
    "job_created": "created",
    "job_activated": "activated",
    "job_completed": "completed",
    "job_failed": "failed",
    "job_terminated": "terminated",
}


class NodeMetrics:
    """Every metric of one node. Build it with the node; the node's listeners feed it.

    Public surface for other layers:
    - `count_forwarded(partition_id)`: a request forwarded to the partition's leader on another
      node (the cluster router calls it).
    - `count_rejected(partition_id, reason)`: a command refused before Raft (backpressure).
    - `render()`: the text exposition, for `/metrics`.
    """

    def __init__(
        self,
        cluster: Cluster | None = None,
        job_streams: JobStreams | None = None,
        handler_stats: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """`cluster`: the local replicas to read at scrape time and the events and roles to
        listen to (None: a bare registry, for tests)."""
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.job_events = Counter(
            "zennode_job_events",
            "Job state changes seen on partition leaders, by job type and action",
            ["partition", "type", "action"],
            registry=reg,
        )
        self.job_activation_latency = Histogram(
            "zennode_job_activation_latency_seconds",
            "Time from job creation to its activation for a worker",
            ["partition"],
            buckets=LATENCY_BUCKETS_S,
            registry=reg,
        )
        self.job_lifetime = Histogram(
            "zennode_job_lifetime_seconds",
            "Time from job creation to its completion",
            ["partition"],
            buckets=LATENCY_BUCKETS_S,
            registry=reg,
        )
        self.instance_events = Counter(
            "zennode_process_instances",
            "Process instances started, completed and terminated",
            ["partition", "action"],
            registry=reg,
        )
        self.instance_duration = Histogram(
            "zennode_process_instance_duration_seconds",
            "Time from instance creation to its completion (leader batch times)",
            ["partition"],
            buckets=LATENCY_BUCKETS_S,
            registry=reg,
        )
        self.instances_active = Gauge(
            "zennode_process_instances_active",
            "Instances started minus ended, as seen by this replica while leading",
            ["partition"],
            registry=reg,
        )
        self.incident_events = Counter(
            "zennode_incident_events",
            "Incidents created and resolved",
            ["partition", "action"],
            registry=reg,
        )
        self.incidents_open = Gauge(
            "zennode_incidents_open",
            "Incidents created minus resolved, as seen by this replica while leading",
            ["partition"],
            registry=reg,
        )
        self.batch_size = Histogram(
            "zennode_batch_size_commands",
            "Commands per applied Raft batch (every replica)",
            ["partition"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=reg,
        )
        self.apply_duration = Histogram(
            "zennode_batch_apply_seconds",
            "Time to apply one Raft batch in its LMDB write transaction",
            ["partition"],
            buckets=APPLY_BUCKETS_S,
            registry=reg,
        )
        self.raft_fsync = Histogram(
            "zennode_raft_fsync_seconds",
            "Time of one group-commit fsync of the partition's Raft journal (raft.fsync: true)",
            ["partition"],
            buckets=APPLY_BUCKETS_S,
            registry=reg,
        )
        self.commands_rejected = Counter(
            "zennode_commands_rejected",
            "Commands refused before replication (backpressure: the command queue was full)",
            ["partition", "reason"],
            registry=reg,
        )
        self.forwarded_requests = Counter(
            "zennode_forwarded_requests",
            "Requests this node forwarded to the leader of their partition on another node",
            ["partition"],
            registry=reg,
        )
        self.search_backfilled = Counter(
            "zennode_search_backfilled_instances",
            "Instances saved by an older version that this node's partition leaders gave their "
            "search rows (a one-time migration, zennode/engine/search/backfill.py)",
            ["partition"],
            registry=reg,
        )
        self._lock = threading.Lock()  # guards the label caches below (tick threads race)
        self._job_children: dict[tuple[int, str, str], Any] = {}
        self._job_types: set[str] = set()
        self._per_partition: dict[int, _PartitionChildren] = {}
        self._cluster = cluster
        # The node sets this to its retention driver's `stats` (built after the metrics).
        self.retention_stats: Callable[[], dict[int, tuple[int, float | None]]] = dict
        if cluster is not None:
            reg.register(
                _ScrapeCollector(
                    cluster, job_streams, handler_stats or dict, lambda: self.retention_stats()
                )
            )
            cluster.add_event_listener(self.on_events)
            cluster.add_role_listener(self.on_role)

    # ----------------------------------------------------------- public hooks

    def count_forwarded(self, partition_id: int) -> None:
        self.forwarded_requests.labels(str(partition_id)).inc()

    def count_backfilled(self, partition_id: int, instances: int) -> None:
        self.search_backfilled.labels(str(partition_id)).inc(instances)

    def count_rejected(self, partition_id: int, reason: str = "backpressure") -> None:
        self.commands_rejected.labels(str(partition_id), reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # ---------------------------------------------------------- node listeners

    def on_role(self, partition_id: int, is_leader: bool) -> None:
        """Hook the partition's per-batch callback (once per replica object)."""
        if self._cluster is None:
            return
        partition = self._cluster.local_partitions.get(partition_id)
        if partition is not None and hasattr(partition, "on_batch_applied"):
            children = self._children(partition_id)
            if partition.on_batch_applied is None:
                partition.on_batch_applied = children.on_batch
            journal = getattr(partition, "journal", None)
            if journal is not None and journal.on_fsync is None:
                journal.on_fsync = children.fsync.observe

    def on_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        """After each batch on a leader (tick thread): counters and histograms only."""
        children = self._children(partition_id)
        now_ms = time.time() * 1000.0
        for event in events:
            name = event.get("event")
            action = _JOB_ACTIONS.get(name)  # type: ignore[arg-type]
            if name == "job_activatable" and event.get("reason") == "timeout":
                action = "timed_out"
            if action is not None:
                self._job_counter(partition_id, event.get("type"), action).inc()
                if action == "activated":
                    _observe_ms(
                        children.activation,
                        event.get("activatedAt", now_ms),
                        _created_at(event),
                    )
                elif action == "completed":
                    _observe_ms(children.lifetime, now_ms, _created_at(event))
                continue
            if name == "instance_created":
                children.started.inc()
                children.active.inc()
            elif name == "instance_completed":
                children.completed.inc()
                children.active.dec()
                _observe_ms(children.duration, event.get("endedAt", now_ms), event.get("createdAt"))
            elif name == "instance_terminated":
                children.terminated.inc()
                children.active.dec()
            elif name == "incident_created":
                children.incidents_created.inc()
                children.incidents_open.inc()
            elif name == "incident_resolved":
                children.incidents_resolved.inc()
                children.incidents_open.dec()

    # ---------------------------------------------------------------- helpers

    def _children(self, partition_id: int) -> _PartitionChildren:
        children = self._per_partition.get(partition_id)
        if children is None:
            with self._lock:
                children = self._per_partition.get(partition_id)
                if children is None:
                    children = _PartitionChildren(self, str(partition_id))
                    self._per_partition[partition_id] = children
        return children

    def _job_counter(self, partition_id: int, job_type: Any, action: str) -> Any:
        job_type = job_type if isinstance(job_type, str) else OTHER_TYPE
        child = self._job_children.get((partition_id, job_type, action))
        if child is not None:
            return child
        with self._lock:
            if job_type not in self._job_types:
                if len(self._job_types) >= JOB_TYPES_MAX:
                    job_type = OTHER_TYPE  # bound the label set against arbitrary type names
                else:
                    self._job_types.add(job_type)
            # cached under the label it got: a type counted as "other" adds no entry, so this
            # map is bounded like the label set (it was keyed by the raw type name before)
            key = (partition_id, job_type, action)
            child = self._job_children.get(key)
            if child is None:
                child = self._job_children[key] = self.job_events.labels(
                    str(partition_id), job_type, action
                )
        return child


class _PartitionChildren:
    """The labelled children of one partition, looked up once (the hot path only calls .inc)."""

    def __init__(self, metrics: NodeMetrics, partition: str) -> None:
        self.activation = metrics.job_activation_latency.labels(partition)
        self.lifetime = metrics.job_lifetime.labels(partition)
        self.started = metrics.instance_events.labels(partition, "started")
        self.completed = metrics.instance_events.labels(partition, "completed")
        self.terminated = metrics.instance_events.labels(partition, "terminated")
        self.active = metrics.instances_active.labels(partition)
        self.duration = metrics.instance_duration.labels(partition)
        self.incidents_created = metrics.incident_events.labels(partition, "created")
        self.incidents_resolved = metrics.incident_events.labels(partition, "resolved")
        self.incidents_open = metrics.incidents_open.labels(partition)
        self.batch_size = metrics.batch_size.labels(partition)
        self.apply_duration = metrics.apply_duration.labels(partition)
        self.fsync = metrics.raft_fsync.labels(partition)

    def on_batch(self, commands: int, apply_s: float) -> None:
        """`Partition.on_batch_applied`: every replica, on its tick thread."""
        self.batch_size.observe(commands)
        self.apply_duration.observe(apply_s)


def _created_at(event: dict[str, Any]) -> Any:
    created = event.get("createdAt")
    if created is None and isinstance(event.get("job"), dict):
        created = event["job"].get("createdAt")
    return created


def _observe_ms(histogram: Any, end_ms: Any, start_ms: Any) -> None:
    if isinstance(end_ms, int | float) and isinstance(start_ms, int | float):
        histogram.observe(max(0.0, (end_ms - start_ms) / 1000.0))


class _ScrapeCollector(Collector):
    """Numbers read when Prometheus scrapes: partition status and job streams."""

    def __init__(
        self,
        cluster: Cluster,
        job_streams: JobStreams | None,
        handler_stats: Callable[[], dict[str, Any]],
        retention_stats: Callable[[], dict[int, tuple[int, float | None]]],
    ) -> None:
        self._cluster = cluster
        self._job_streams = job_streams
        self._handler_stats = handler_stats
        self._retention_stats = retention_stats

    def describe(self) -> list[Metric]:
        return []  # dynamic: nothing to check for name clashes at registration

    def collect(self) -> Iterator[Metric]:
        gauges = {
            name: GaugeMetricFamily(f"zennode_{name}", doc, labels=["partition"])
            for name, doc in _PARTITION_GAUGES.items()
        }
        for pid, partition in sorted(dict(self._cluster.local_partitions).items()):
            try:
                status = partition.status()
            except Exception:  # noqa: BLE001 - a stopping partition must not break the scrape
                log.debug("partition %s: status unavailable for metrics", pid, exc_info=True)
                continue
            label = [str(pid)]
            role = ROLE_VALUES.get(str(status.get("role")), 0)
            gauges["raft_role"].add_metric(label, role)
            gauges["raft_leader"].add_metric(label, 1 if role == 2 else 0)
            gauges["partition_halted"].add_metric(label, 1 if status.get("halted") else 0)
            for name, field in _STATUS_FIELDS.items():
                value = status.get(field)
                if isinstance(value, int | float):
                    gauges[name].add_metric(label, value)
            age = _snapshot_age_s(partition)
            if age is not None:
                gauges["snapshot_age_seconds"].add_metric(label, age)
        yield from gauges.values()
        if self._job_streams is not None:
            yield from _job_stream_metrics(self._job_streams)
        queued = GaugeMetricFamily(
            "zennode_internal_jobs_queued", "Internal jobs waiting for a handler thread"
        )
        queued.add_metric([], self._handler_stats().get("queued", 0))
        yield queued
        yield from _retention_metrics(self._retention_stats())


_PARTITION_GAUGES = {
    "raft_role": "Raft role of the local replica: 0 follower, 1 candidate, 2 leader",
    "raft_leader": "1 when the local replica leads its partition",
    "partition_halted": "1 when the local replica stopped applying: a violated engine invariant",
    "raft_term": "Current Raft term",
    "raft_commit_index": "Raft commit index",
    "raft_applied_index": "Raft index of the last batch applied to LMDB",
    "raft_log_entries": "Entries in the Raft log (since the last compaction)",
    "command_queue_depth": "Commands queued or in flight on the leader's batcher",
    "lmdb_size_bytes": "Size of the partition's LMDB data",
    "snapshot_age_seconds": "Seconds since the partition's last snapshot file was written",
}
_STATUS_FIELDS = {
    "raft_term": "term",
    "raft_commit_index": "commit_index",
    "raft_applied_index": "applied_index",
    "raft_log_entries": "log_entries",
    "command_queue_depth": "pending_commands",
    "lmdb_size_bytes": "lmdb_bytes",
}


def _snapshot_age_s(partition: Any) -> float | None:
    """Age of `raft.dump` (the snapshot PySyncObj writes through our codec), if there is one."""
    data_dir = getattr(getattr(partition, "settings", None), "data_dir", None)
    if data_dir is None:
        return None
    try:
        mtime = (Path(data_dir) / "raft.dump").stat().st_mtime
    except OSError:
        return None
    age = time.time() - mtime
    return age if math.isfinite(age) else None


def _retention_metrics(stats: dict[int, tuple[int, float | None]]) -> Iterator[Metric]:
    """The retention driver's numbers: deletions by this node's leaders, and how far behind."""
    deleted = CounterMetricFamily(
        "zennode_retention_deleted_instances",
        "Ended root instances (with all they own) deleted by this node's partition leaders",
        labels=["partition"],
    )
    overdue = GaugeMetricFamily(
        "zennode_retention_overdue_seconds",
        "How long the oldest ended instance has waited past its time to live (0: none due)",
        labels=["partition"],
    )
    for pid, (count, overdue_s) in sorted(stats.items()):
        deleted.add_metric([str(pid)], count)
        if overdue_s is not None:
            overdue.add_metric([str(pid)], overdue_s)
    yield deleted
    yield overdue


def _job_stream_metrics(streams: JobStreams) -> Iterator[Metric]:
    """Per-node job stream numbers, kept as plain counters by the job managers."""
    snapshot = streams.snapshot()
    open_streams = GaugeMetricFamily("zennode_job_streams_open", "Worker streams open on this node")
    open_streams.add_metric([], snapshot.get("streams", 0))
    yield open_streams
    counters: dict[str, CounterMetricFamily] = {
        key: CounterMetricFamily(f"zennode_{name}", doc, labels=["partition"])
        for key, (name, doc) in _STREAM_COUNTERS.items()
    }
    for manager in snapshot.get("partitions", []):
        label = [str(manager.get("partition"))]
        for key, family in counters.items():
            family.add_metric(label, manager.get(key, 0))
    yield from counters.values()


_STREAM_COUNTERS: dict[str, tuple[str, str]] = {
    "pushed": ("jobs_pushed", "Jobs activated and pushed to a worker stream"),
    "pushed_remote": (
        "jobs_pushed_remote",
        "Of the pushed jobs, those sent to a worker on another node (through the job relay)",
    ),
    "push_failed": ("jobs_push_failed", "Activated jobs that could not be pushed (released)"),
}
