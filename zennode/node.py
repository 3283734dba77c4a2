"""The Node: one zennode process, built from a `Config`. It only wires the parts and starts and
stops them; each part does one job:

    cluster    `cluster.client.Cluster`       local replicas, routing, forwarding (ClusterClient)
    service    `service.Service`              the façade every API calls, one method per operation
    handlers   `jobs.handlers.HandlerRunner`  internal jobs: Python functions run on the leader
    job_streams `jobs.streams.JobStreams`     job managers (per partition) + worker streams
    timers     `drivers.timers.TimerDriver`   fires due BPMN timers on the partitions it leads
    retention  `drivers.retention`            deletes ended instances whose TTL passed (leaders)
    backfill   `drivers.backfill`             gives old instances their search rows, once (leaders)
    relay      `drivers.partition_relay`      cross-partition command relay, sent by leaders
    metrics    `metrics.NodeMetrics`          this node's Prometheus registry
    servers    HTTP (REST, /metrics), public gRPC (JobStream, Zeebe gateway), internal gRPC

Threads: partitions apply and emit events on their own tick threads; everything else runs on
`node.loop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zennode.cluster.client import Cluster
from zennode.cluster.replicas import ReplicaFactory
from zennode.config import Config, default_config
from zennode.drivers.backfill import SearchBackfillDriver
from zennode.drivers.partition_relay import PartitionRelay
from zennode.drivers.retention import RetentionDriver
from zennode.drivers.timers import TimerDriver
from zennode.errors import ConfigError
from zennode.event_loop import loop_factory
from zennode.jobs.handlers import HandlerRunner
from zennode.jobs.streams import JobStreams
from zennode.metrics import NodeMetrics
from zennode.service import Service

log = logging.getLogger("zennode.node")


class Node:
    """One node of a zennode cluster (or the whole of a single-node one).

    Library use::

        node = Node()                     # embedded default config
        @node.task_handler("charge")
        def charge(job): return {"charged": True}
        node.run()                        # blocks until SIGINT / SIGTERM

    In code running on the node's loop, `node.service` offers every operation (deploy, create
    an instance, complete a job, ...).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        serve_http: bool = True,
        serve_grpc: bool = True,
        partition_factory: ReplicaFactory | None = None,
    ) -> None:
        self.config = config or default_config()
        self.serve_http = serve_http
        self.serve_grpc = serve_grpc
        limits = self.config.limits
        self.cluster = Cluster(self.config, partition_factory)
        self.handlers = HandlerRunner(
            self.cluster,
            threads=limits.handler_threads,
            queue_max=limits.handler_queue_max,
            variables_bytes_max=limits.variables_bytes_max,
        )
        self.cluster.add_event_listener(self.handlers.on_events)
        self.cluster.add_role_listener(self.handlers.on_role)
        self.service = Service(self.cluster, limits, handler_stats=self.handlers.stats)
        self.job_streams = JobStreams(self.cluster, self.service)
        self.metrics = NodeMetrics(self.cluster, self.job_streams, self.handlers.stats)
        self.cluster.on_forwarded = self.metrics.count_forwarded
        self.cluster.on_rejected = self.metrics.count_rejected
        self.timers = TimerDriver(self.cluster)
        retention = self.config.retention
        self.retention = RetentionDriver(
            self.cluster,
            default_ttl_ms=retention.history_ttl_ms,
            poll_s=retention.purge_interval_ms / 1000,
            chunk=retention.purge_chunk,
        )
        self.metrics.retention_stats = self.retention.stats
        self.backfill = SearchBackfillDriver(
            self.cluster, on_migrated=self.metrics.count_backfilled
        )
        self.relay = PartitionRelay(self.cluster)
        self._servers: list[tuple[str, Callable[[], Any]]] = []  # (name, async stop) in order
        self._lock_file: Any = None
        self._started = False
        self._stopping = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self.cluster.loop

    def task_handler(
        self, job_type: str | None = None, *, element_id: str | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: run `fn(job) -> dict | None` for every job of `job_type`, or for every job
        of the tasks with id `element_id` (ZenBPM's handlers by id; a task without a task
        definition is served this way)."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.handlers.register(job_type, fn, element_id=element_id)
            return fn

        return register

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the data dir, start the partitions, the drivers, the job layer, the servers."""
        if self._started:
            return
        self._stopping = False
        self._prepare_data_dir()
        self._check_ports_free()
        try:
            await asyncio.to_thread(self.cluster.build_partitions)
            self.handlers.start()
            await self.cluster.start()
            await self.job_streams.start()
            if len(self.config.members) > 1:
                await self._start_internal()
            if self.serve_http:
                await self._start_http()
            if self.serve_grpc:
                await self._start_grpc()
        except BaseException:
            await self.stop()
            raise
        self._started = True
        log.info(
            "node %s started: partitions %s, http %s:%s",
            self.config.node_id,
            self.cluster.local_partition_ids(),
            self.config.host,
            self.config.ports.http,
        )

    async def stop(self) -> None:
        """Stop the APIs first (no new requests), then the drivers and jobs, then the partitions."""
        if self._stopping:
            return
        self._stopping = True
        was_started = self._started
        self.cluster.stop_serving()
        for name, stop in reversed(self._servers):
            try:
                await stop()
            except Exception:
                log.exception("stopping the %s server failed", name)
        self._servers.clear()
        await self.timers.stop()
        await self.retention.stop()
        await self.backfill.stop()
        await self.relay.stop()
        await self.job_streams.stop()
        await asyncio.to_thread(self.handlers.stop)
        await self.cluster.stop()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self._started = False
        if was_started:
            log.info("node %s stopped", self.config.node_id)

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def run(self) -> None:
        """Start, serve until SIGINT or SIGTERM, stop cleanly. Blocks (library and CLI use).

        Runs on the loop `config.event_loop` names (uvloop by default, `zennode/event_loop.py`).
        """
        with asyncio.Runner(loop_factory=loop_factory(self.config.event_loop)) as runner:
            runner.run(self.serve_forever())

    async def serve_forever(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        try:
            await self.start()
            await stop.wait()
            log.info("signal received, shutting down")
        finally:
            await self.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)

    # --------------------------------------------------------- start-up steps

    def _prepare_data_dir(self) -> None:
        """Create the data dir, prove it is writable, and lock it against a second node."""
        path = Path(self.config.data_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-probe"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"data_dir: {path} is not writable ({exc.strerror or exc})") from exc
        lock_file = open(path / ".lock", "a+")  # noqa: SIM115 - held open for the node's life
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock_file.close()
            raise ConfigError(f"data_dir: {path} is in use by another zennode process") from exc
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self._lock_file = lock_file

    def _ports_to_bind(self) -> list[tuple[str, int]]:
        ports = self.config.ports
        wanted: list[tuple[str, int]] = []
        if self.serve_http:
            wanted.append(("http", ports.http))
        if self.serve_grpc:
            wanted.append(("grpc", ports.grpc))
        if len(self.config.members) > 1:
            wanted.append(("internal", ports.internal))
        for pid in self.config.local_partition_ids:
            wanted.append((f"raft partition {pid}", ports.raft(pid)))
        return wanted

    def _check_ports_free(self) -> None:
        """Fail fast with one clear line instead of a bind error deep in a thread."""
        host = self.config.host
        for name, port in self._ports_to_bind():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port))
                except OSError as exc:
                    raise ConfigError(
                        f"port {port} ({name}) on {host} is in use or not bindable: {exc.strerror}"
                    ) from exc

    async def _start_internal(self) -> None:
        """Node to node: the cluster service (forwarding, roles) and the job relay."""
        from zennode.cluster.server import start_internal_server, stop_internal_server
        from zennode.jobs.job_relay import add_job_relay

        streams, secret = self.job_streams, self.config.secret
        server = await start_internal_server(
            self.cluster, services=[lambda server: add_job_relay(server, streams, secret)]
        )
        self._servers.append(("internal", lambda: stop_internal_server(server)))

    async def _start_http(self) -> None:
        from zennode.api.http_server import HttpServer
        from zennode.api.rest import create_app

        server = HttpServer(create_app(self.service, self.config, self.metrics), self.config)
        await server.start()
        self._servers.append(("http", server.stop))

    async def _start_grpc(self) -> None:
        try:
            from zennode.api.grpc_server import start_grpc_server
        except ImportError:
            log.warning("gRPC server module not available; public gRPC port not served")
            return
        server = await start_grpc_server(self.config, self.service, self.cluster, self.job_streams)

        async def stop() -> None:
            with contextlib.suppress(Exception):
                await server.stop(grace=1.0)

        self._servers.append(("grpc", stop))
