"""The Node: one zennode process, built from a `Config`, and the façade every API calls.

It owns the local partition replicas (an `Engine` + a Raft `Partition` each), routes every
call to the partition that owns the key (`keys.partition_of`), waits a bounded time for a
leader, and runs the public servers (REST, gRPC) on one asyncio loop. The APIs never touch
partitions directly: they call the `async` methods below, which raise `ZennodeError`s that
the API layers map to statuses through `errors.http_status()` / `errors.grpc_code_name()`.

Threads: partitions apply and emit events on their own tick threads; everything here runs on
`node.loop`. Commits are awaited through `asyncio.wrap_future`, reads are short LMDB read
transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zennode.cluster.batcher import NotCommitted
from zennode.cluster.interpartition import Relay
from zennode.cluster.reads import run_read
from zennode.cluster.router import ReplicaReport, Router
from zennode.cluster.wire import PeerUnreachable
from zennode.config import Config, default_config
from zennode.engine import keys
from zennode.engine.commands import (
    BroadcastSignal,
    CancelInstance,
    Command,
    CompleteJob,
    CreateInstance,
    Deploy,
    FailJob,
    ResolveIncident,
    SetVariables,
    UpdateJobRetries,
    to_wire,
)
from zennode.engine.outcome import Outcome
from zennode.errors import (
    Backpressure,
    BadRequest,
    ConfigError,
    NotFound,
    TooLarge,
    Unavailable,
)
from zennode.jobs.handlers import HandlerRunner
from zennode.jobs.timers import TimerDriver
from zennode.metrics import NodeMetrics

log = logging.getLogger("zennode.node")

EventListener = Callable[[int, list[dict[str, Any]]], None]
RoleListener = Callable[[int, bool], None]

ROLE_POLL_S = 0.05  # how often the role watcher looks at each local partition
LEADER_POLL_S = 0.02  # how often a request waiting for a leader looks again


class Node:
    """One node of a zennode cluster (or the whole of a single-node one).

    Library use::

        node = Node()                     # embedded default config
        @node.task_handler("charge")
        def charge(job): return {"charged": True}
        node.run()                        # blocks until SIGINT / SIGTERM
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        serve_http: bool = True,
        serve_grpc: bool = True,
        partition_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.config = config or default_config()
        self.serve_http = serve_http
        self.serve_grpc = serve_grpc
        self.local_partitions: dict[int, Any] = {}
        self.engines: dict[int, Any] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._partition_factory = partition_factory
        self._event_listeners: list[EventListener] = []
        self._role_listeners: list[RoleListener] = []
        self._listeners_lock = threading.Lock()
        self._roles: dict[int, bool] = {}
        self._round_robin = itertools.cycle(list(self.config.partition_ids))
        # Cluster routing: which member leads each partition, and the internal gRPC clients.
        self.router = Router(self.config, lambda: self.local_partitions)
        self.peers: Any = None  # zennode.cluster.peers.Peers when there is more than one member
        self._internal_server: Any = None
        self._handlers = HandlerRunner(
            self,
            threads=self.config.limits.handler_threads,
            queue_max=self.config.limits.handler_queue_max,
        )
        self.add_event_listener(self._handlers.on_events)
        self.add_role_listener(self._handlers.on_role)
        self.metrics = NodeMetrics(self)  # listens to events and roles; served at /metrics
        self.timers = TimerDriver(self)  # fires due BPMN timers on the partitions it leads
        self.relay = Relay(self)  # cross-partition message commands, sent by leaders
        self._tasks: list[asyncio.Task[Any]] = []
        self._http_server: Any = None
        self._http_socket: socket.socket | None = None
        self._grpc_server: Any = None
        # The JobStreams (`zennode.jobs.streams`) of the public gRPC server: it sets itself here
        # when it starts (the job relay and /metrics read it); None without a gRPC server.
        self.job_streams: Any = None
        self._lock_file: Any = None
        self._started = False
        self._stopping = False

    # ------------------------------------------------------------------ hooks

    def add_event_listener(self, fn: EventListener) -> None:
        """`fn(partition_id, events)` after each batch on a leader, on its tick thread."""
        with self._listeners_lock:
            self._event_listeners = [*self._event_listeners, fn]

    def add_role_listener(self, fn: RoleListener) -> None:
        """`fn(partition_id, is_leader)` whenever a local replica gains or loses leadership."""
        with self._listeners_lock:
            self._role_listeners = [*self._role_listeners, fn]

    def task_handler(self, job_type: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: run `fn(job) -> dict | None` for every job of `job_type` (internal jobs)."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._handlers.register(job_type, fn)
            return fn

        return register

    def handler_stats(self) -> dict[str, Any]:
        """The internal job handlers' counters: types, queued, completed, failed."""
        return self._handlers.stats()

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the data dir, start the partitions, the handler runner and the servers."""
        if self._started:
            return
        self.loop = asyncio.get_running_loop()
        self._stopping = False
        self._prepare_data_dir()
        self._check_ports_free()
        try:
            await asyncio.to_thread(self._build_partitions)
            self._handlers.start()
            self._tasks.append(asyncio.create_task(self._watch_roles(), name="role-watcher"))
            if len(self.config.members) > 1:
                await self._start_cluster()
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
            sorted(self.local_partitions),
            self.config.host,
            self.config.ports.http,
        )

    async def stop(self) -> None:
        """Stop the APIs first (no new commands), then the handlers, then the partitions."""
        if self._stopping:
            return
        self._stopping = True
        was_started = self._started
        if self._grpc_server is not None:
            with contextlib.suppress(Exception):
                await self._grpc_server.stop(grace=1.0)
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._http_server.shutdown(), timeout=5)
            self._http_server = None
        if self._http_socket is not None:
            self._http_socket.close()
            self._http_socket = None
        if self._internal_server is not None:
            from zennode.cluster.server import stop_internal_server

            await stop_internal_server(self._internal_server)
            self._internal_server = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        await self.timers.stop()
        await self.relay.stop()
        if self.peers is not None:
            await self.peers.close()
            self.peers = None
        await asyncio.to_thread(self._handlers.stop)
        partitions = list(self.local_partitions.values())
        self.local_partitions = {}
        for partition in partitions:
            try:
                await asyncio.to_thread(partition.stop)
            except Exception:
                log.exception("stopping a partition failed")
        self.engines = {}
        self._roles = {}
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
        """Start, serve until SIGINT or SIGTERM, stop cleanly. Blocks (library and CLI use)."""
        asyncio.run(self.serve_forever())

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

    # -------------------------------------------------------- start-up steps

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

    def _build_partitions(self) -> None:
        factory = self._partition_factory or _default_partition_factory
        for pid in self.config.local_partition_ids:
            engine, partition = factory(
                self.config, pid, lambda events, pid=pid: self._dispatch_events(pid, events)
            )
            self.engines[pid] = engine
            self.local_partitions[pid] = partition

    async def _start_http(self) -> None:
        import uvicorn

        from zennode.api.auth import uvicorn_ssl_options
        from zennode.api.rest import create_app

        host, port = self.config.host, self.config.ports.http
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it a keep-alive response waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"port {port} (http) on {host} is in use: {exc.strerror}") from exc
        sock.listen(1024)
        sock.setblocking(False)
        self._http_socket = sock
        uv_config = uvicorn.Config(
            create_app(self),
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=3,
            **uvicorn_ssl_options(self.config),  # HTTPS when tls.cert_file/key_file are set
        )
        uv_config.load()
        server = uvicorn.Server(uv_config)
        server.lifespan = uv_config.lifespan_class(uv_config)
        await server.startup(sockets=[sock])
        self._http_server = server

    async def _start_cluster(self) -> None:
        """The internal gRPC service (members only) and the poll that fills the router."""
        from zennode.cluster.peers import Peers
        from zennode.cluster.server import start_internal_server

        self.peers = Peers(self.config)
        from zennode.jobs.remote import add_job_relay

        # JobRelay (proto/jobs.proto): workers on one node, partition leaders on another.
        self._internal_server = await start_internal_server(
            self,
            self.config.host,
            self.config.ports.internal,
            services=[lambda server: add_job_relay(server, self)],
        )
        self._tasks.append(
            asyncio.create_task(self.router.poll_forever(self.peers), name="router-poll")
        )
        if self.config.raft.balance_leaders:
            from zennode.cluster.balancer import LeaderBalancer

            balancer = LeaderBalancer(self)
            self._tasks.append(asyncio.create_task(balancer.run_forever(), name="balancer"))

    async def _start_grpc(self) -> None:
        try:
            from zennode.api.grpc_server import start_grpc_server
        except ImportError:
            log.warning("gRPC server module not available; public gRPC port not served")
            return
        self._grpc_server = await start_grpc_server(self, self.config.host, self.config.ports.grpc)

    # ---------------------------------------------------------- events, roles

    def _dispatch_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        for fn in self._event_listeners:
            try:
                fn(partition_id, events)
            except Exception:
                log.exception("event listener %r failed", fn)

    async def _watch_roles(self) -> None:
        """Tell role listeners when a local replica gains or loses leadership."""
        while True:
            for pid, partition in list(self.local_partitions.items()):
                leader = bool(partition.is_leader)
                if self._roles.get(pid) != leader:
                    self._roles[pid] = leader
                    # DEBUG: the partition itself logs each role change at INFO (one line each)
                    log.debug("partition %s: %s", pid, "leader" if leader else "follower")
                    for fn in self._role_listeners:
                        try:
                            fn(pid, leader)
                        except Exception:
                            log.exception("role listener %r failed", fn)
            await asyncio.sleep(ROLE_POLL_S)

    # ---------------------------------------------------------------- routing

    def _check_partition(self, partition_id: int) -> None:
        if partition_id not in self.config.partition_ids:
            raise NotFound(f"partition {partition_id} does not exist")

    def _local_leader(self, partition_id: int) -> Any | None:
        partition = self.local_partitions.get(partition_id)
        return partition if partition is not None and partition.is_leader else None

    async def _route(self, partition_id: int, local: Any, remote: Any) -> Any:
        """Run `local(partition)` on a local leader or `remote(node_id)` on the leader's node.

        Retries while the answer is `NotCommitted` (no leader, leader just changed, leader
        unreachable: certainly not applied) for at most `leader_wait_ms`, then 503 with the
        partition id. Any other error, `OutcomeUnknown` included, goes to the caller.
        """
        self._check_partition(partition_id)
        wait_ms = self.config.limits.leader_wait_ms
        deadline = time.monotonic() + wait_ms / 1000
        last: Exception | None = None
        while True:
            if self._stopping:
                raise Unavailable("node is shutting down", partition_id=partition_id)
            partition = self._local_leader(partition_id)
            leader = self.config.node_id if partition is not None else None
            try:
                if partition is not None:
                    return await local(partition)
                leader = self.router.leader_of(partition_id)
                if leader is not None and leader != self.config.node_id and self.peers:
                    self.metrics.count_forwarded(partition_id)
                    return await remote(leader)
            except PeerUnreachable as exc:
                last = exc
                self.router.mark_unreachable(exc.node_id)
            except NotCommitted as exc:  # not the leader (any more): ask the router again
                last = exc
                if leader is not None and leader != self.config.node_id:
                    self.router.forget(leader, partition_id)
            if time.monotonic() >= deadline:
                why = f" (last: {last})" if last is not None else ""
                raise Unavailable(
                    f"partition {partition_id} has no reachable leader (waited {wait_ms} ms){why}",
                    partition_id=partition_id,
                )
            await asyncio.sleep(LEADER_POLL_S)

    async def submit(self, partition_id: int, command: Command) -> Outcome:
        """Replicate `command` on its partition's leader, wherever it is; the applied `Outcome`.

        Forwarded commands travel as JSON and come back as an `Outcome` without events (the
        leader's node hands the events to its own listeners). A forwarded command that the
        remote node answers with `NotCommitted` (it does not lead the partition any more, or
        lost leadership before committing) is raised here, so `_route` re-routes and retries
        it like a local one.
        """
        timeout = self.config.limits.request_timeout_ms / 1000
        wire = to_wire(command)

        async def remote(node_id: int) -> Outcome:
            outcome = await self.peers.submit(node_id, partition_id, wire, timeout + 1.0)
            if isinstance(outcome.error, NotCommitted):
                raise outcome.error
            return outcome

        return await self._route(
            partition_id, lambda p: self._submit_local(p, partition_id, wire), remote
        )

    async def _submit_local(
        self, partition: Any, partition_id: int, wire: dict[str, Any]
    ) -> Outcome:
        try:
            future = partition.submit(wire)
        except Backpressure:
            self.metrics.count_rejected(partition_id)
            raise
        timeout = self.config.limits.request_timeout_ms / 1000
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError as exc:
            raise Unavailable(
                f"partition {partition_id} did not commit the command within {timeout:g} s",
                partition_id=partition_id,
            ) from exc

    async def submit_here(self, partition_id: int, command: Command) -> Outcome:
        """Run `command` only if this node leads the partition now (else NotCommitted)."""
        return await self.submit_wire_here(partition_id, to_wire(command))

    async def submit_wire_here(self, partition_id: int, wire: dict[str, Any]) -> Outcome:
        """A command in wire form forwarded by a peer: run it only as the current leader."""
        self._check_partition(partition_id)
        partition = self._local_leader(partition_id)
        if partition is None:
            raise NotCommitted(
                f"node {self.config.node_id} does not lead partition {partition_id}",
                partition_id,
            )
        return await self._submit_local(partition, partition_id, wire)

    async def _run(self, partition_id: int, command: Command) -> dict[str, Any]:
        return (await self.submit(partition_id, command)).unwrap()

    async def _read(self, partition_id: int, query: str, **args: Any) -> Any:
        """Run the named read-only query (`zennode.cluster.reads`) on the partition's leader."""
        timeout = self.config.limits.request_timeout_ms / 1000

        async def local(partition: Any) -> Any:
            with partition.read() as txn:
                return run_read(txn, query, args)

        async def remote(node_id: int) -> Any:
            return await self.peers.read(node_id, partition_id, query, args, timeout)

        return await self._route(partition_id, local, remote)

    async def read_here(self, partition_id: int, query: str, args: dict[str, Any]) -> Any:
        """A read forwarded by a peer: answer only as the partition's current leader."""
        self._check_partition(partition_id)
        partition = self._local_leader(partition_id)
        if partition is None:
            raise NotCommitted(
                f"node {self.config.node_id} does not lead partition {partition_id}",
                partition_id,
            )
        with partition.read() as txn:
            return run_read(txn, query, args)

    def _key_partition(self, key: int, what: str) -> int:
        if key <= 0:
            raise NotFound(f"{what} {key} not found")
        partition_id = keys.partition_of(key)
        if partition_id not in self.config.partition_ids:
            raise NotFound(f"{what} {key} not found (no partition {partition_id})")
        return partition_id

    def check_variables(self, variables: Any, what: str = "variables") -> dict[str, Any]:
        """A JSON object within `variables_bytes_max`, or BadRequest / TooLarge."""
        if variables is None:
            return {}
        if not isinstance(variables, dict):
            raise BadRequest(f"{what} must be a JSON object")
        try:
            size = len(json.dumps(variables, allow_nan=False, separators=(",", ":")))
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"{what} are not JSON: {exc}") from exc
        limit = self.config.limits.variables_bytes_max
        if size > limit:
            raise TooLarge(f"{what} are {size} bytes of JSON, the limit is {limit}")
        return variables

    # ----------------------------------------------------------------- façade

    async def deploy(self, xml: bytes, resource_name: str = "") -> dict[str, Any]:
        """Deploy on partition 1 (it assigns key and version), then on every other partition."""
        if len(xml) > self.config.limits.bpmn_bytes_max:
            limit = self.config.limits.bpmn_bytes_max
            raise TooLarge(f"BPMN resource is {len(xml)} bytes, the limit is {limit}")
        engine = self.engines.get(1) or next(iter(self.engines.values()), None)
        if engine is None:  # no local replica: validation is parsing only, any engine does
            from zennode.engine import Engine

            engine = Engine(1)
        try:
            text = xml.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the BPMN resource is not UTF-8 ({exc.reason})") from exc
        engine.validate_deploy(xml)
        first = await self._run(1, Deploy(xml=text, resource_name=resource_name))
        assigned = {
            p["bpmnProcessId"]: {"key": p["processDefinitionKey"], "version": p["version"]}
            for p in first.get("processes", [first])
        }
        others = [p for p in self.config.partition_ids if p != 1]
        if others:
            command = Deploy(xml=text, resource_name=resource_name, assigned=assigned)
            await asyncio.gather(*(self._run(p, command) for p in others))
        return first

    async def list_definitions(
        self, page: int = 1, size: int = 10, bpmn_process_id: str | None = None
    ) -> dict[str, Any]:
        """Definitions are on every partition; partition 1 (the deployment partition) answers."""
        items, total = await self._read(
            1,
            "list_definitions",
            bpmn_process_id=bpmn_process_id,
            offset=(page - 1) * size,
            limit=size,
        )
        return {
            "items": items,
            "page": page,
            "size": size,
            "count": len(items),
            "totalCount": total,
        }

    async def get_definition(self, key: int) -> dict[str, Any]:
        self._key_partition(key, "process definition")
        return await self._read(1, "get_definition", key=key)

    async def create_instance(
        self,
        process_definition_key: int | None = None,
        bpmn_process_id: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if (process_definition_key is None) == (bpmn_process_id is None):
            raise BadRequest("give exactly one of processDefinitionKey or bpmnProcessId")
        if process_definition_key is not None:
            self._key_partition(process_definition_key, "process definition")
        variables = self.check_variables(variables)
        partition_id = next(self._round_robin)
        command = CreateInstance(
            process_definition_key=process_definition_key,
            bpmn_process_id=bpmn_process_id,
            variables=variables,
        )
        return await self._run(partition_id, command)

    async def broadcast_signal(
        self, name: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Trigger every signal event waiting for `name`, on every partition.

        Partition 1 (the deployment partition, where signal start events listen) applies it
        first and gives the signal its key; the other partitions get the same command with
        that `signalKey`, so each applies one signal once. Returns `{key, triggered,
        startedInstances}` summed over the partitions.
        """
        if not name:
            raise BadRequest("a signal needs a name")
        variables = self.check_variables(variables)
        first = await self._run(1, BroadcastSignal(signal_name=name, variables=variables))
        copy = BroadcastSignal(signal_name=name, variables=variables, signal_key=first["signalKey"])
        others = [p for p in self.config.partition_ids if p != 1]
        results = [first, *await asyncio.gather(*(self._run(p, copy) for p in others))]
        return {
            "key": first["signalKey"],
            "triggered": sum(r["triggered"] for r in results),
            "startedInstances": [k for r in results for k in r["startedInstances"]],
        }

    async def get_instance(self, key: int) -> dict[str, Any]:
        pid = self._key_partition(key, "process instance")
        return await self._read(pid, "get_instance", key=key)

    async def list_instances(self, page: int = 1, size: int = 10) -> dict[str, Any]:
        """Instances of every partition, paged per partition (like `list_jobs`)."""
        args = {"offset": (page - 1) * size, "limit": size}
        return await self._per_partition_page(
            list(self.config.partition_ids), "list_instances", args, page, size
        )

    async def cancel_instance(self, key: int) -> dict[str, Any]:
        pid = self._key_partition(key, "process instance")
        return await self._run(pid, CancelInstance(process_instance_key=key))

    async def list_jobs(
        self,
        page: int = 1,
        size: int = 10,
        state: str | None = None,
        job_type: str | None = None,
        process_instance_key: int | None = None,
    ) -> dict[str, Any]:
        """Per-partition pages: page 1 size 10 over two full partitions returns 20 jobs."""
        if process_instance_key is not None:
            partition_ids = [self._key_partition(process_instance_key, "process instance")]
        else:
            partition_ids = list(self.config.partition_ids)

        args = {
            "state": state,
            "job_type": job_type,
            "instance_key": process_instance_key,
            "offset": (page - 1) * size,
            "limit": size,
        }
        return await self._per_partition_page(partition_ids, "list_jobs", args, page, size)

    async def get_job(self, key: int) -> dict[str, Any]:
        pid = self._key_partition(key, "job")
        return await self._read(pid, "get_job", key=key)

    async def complete_job(self, key: int, variables: dict[str, Any] | None) -> dict[str, Any]:
        pid = self._key_partition(key, "job")
        variables = self.check_variables(variables)
        return await self._run(pid, CompleteJob(job_key=key, variables=variables))

    async def fail_job(
        self,
        key: int,
        retries: int | None = None,
        error_code: str | None = None,
        message: str | None = None,
        variables: dict[str, Any] | None = None,
        retry_backoff_ms: int | None = None,
    ) -> dict[str, Any]:
        pid = self._key_partition(key, "job")
        variables = self.check_variables(variables)
        command = FailJob(
            job_key=key,
            retries=retries,
            error_code=error_code,
            message=message or "",
            variables=variables,
            retry_backoff_ms=retry_backoff_ms or None,
        )
        return await self._run(pid, command)

    async def update_job_retries(self, key: int, retries: int) -> dict[str, Any]:
        """Set the retries of a job (a failed job keeps them once its incident is resolved)."""
        pid = self._key_partition(key, "job")
        return await self._run(pid, UpdateJobRetries(job_key=key, retries=retries))

    async def set_variables(self, key: int, variables: dict[str, Any]) -> dict[str, Any]:
        """Merge `variables` into a process instance's variables."""
        pid = self._key_partition(key, "process instance")
        variables = self.check_variables(variables)
        command = SetVariables(process_instance_key=key, variables=variables)
        return await self._run(pid, command)

    async def list_incidents(
        self,
        page: int = 1,
        size: int = 10,
        process_instance_key: int | None = None,
        state: str | None = None,
    ) -> dict[str, Any]:
        if process_instance_key is not None:
            partition_ids = [self._key_partition(process_instance_key, "process instance")]
        else:
            partition_ids = list(self.config.partition_ids)

        args = {
            "instance_key": process_instance_key,
            "offset": (page - 1) * size,
            "limit": size,
            "incident_state": state,
        }
        return await self._per_partition_page(partition_ids, "list_incidents", args, page, size)

    async def _per_partition_page(
        self,
        partition_ids: list[int],
        query: str,
        args: dict[str, Any],
        page: int,
        size: int,
    ) -> dict[str, Any]:
        """Run a paged query on each partition's leader: `{partitions: [{partition, items}]}`."""
        results = await asyncio.gather(*(self._read(p, query, **args) for p in partition_ids))
        partitions = [
            {"partition": pid, "items": items}
            for pid, (items, _total) in zip(partition_ids, results, strict=True)
        ]
        return {
            "partitions": partitions,
            "page": page,
            "size": size,
            "count": sum(len(items) for items, _ in results),
            "totalCount": sum(total for _, total in results),
        }

    async def get_incident(self, key: int) -> dict[str, Any]:
        pid = self._key_partition(key, "incident")
        return await self._read(pid, "get_incident", key=key)

    async def resolve_incident(self, key: int) -> dict[str, Any]:
        pid = self._key_partition(key, "incident")
        return await self._run(pid, ResolveIncident(incident_key=key))

    def is_ready(self) -> bool:
        """True when every local partition has a leader (readiness probe)."""
        if not self._started or self._stopping or not self.local_partitions:
            return False
        return all(
            p.is_leader or p.leader_address is not None for p in self.local_partitions.values()
        )

    async def status(self) -> dict[str, Any]:
        partitions = []
        for pid in self.config.partition_ids:
            partition = self.local_partitions.get(pid)
            if partition is None:
                partitions.append({"partition": pid, "local": False})
                continue
            entry: dict[str, Any] = {
                "partition": pid,
                "local": True,
                "role": "leader" if partition.is_leader else "follower",
                "leader": partition.leader_address,
            }
            try:
                entry.update(partition.status())
            except Exception as exc:  # status is diagnostics; never fail the endpoint on it
                entry["statusError"] = str(exc)
            partitions.append(entry)
        return {
            "nodeId": self.config.node_id,
            "ready": self.is_ready(),
            "partitions": partitions,
            "handlers": self.handler_stats(),
        }

    # ------------------------------------------------------------- topology

    async def replica_roles(self, with_digest: bool = False) -> dict[int, ReplicaReport]:
        """Role, leader, term, applied index (and digest) of every local replica."""
        reports: dict[int, ReplicaReport] = {}
        for pid, partition in sorted(self.local_partitions.items()):
            try:
                report = self.router.local_report(partition)
                if with_digest:
                    report.digest = await asyncio.to_thread(partition.digest)
            except Exception as exc:  # a replica that is stopping: report it without data
                log.debug("partition %s: no role report: %s", pid, exc)
                continue
            reports[pid] = report
        return reports

    async def topology(self, with_digest: bool = True) -> dict[str, Any]:
        """Nodes (up/down) and partitions (leader, followers, replicas' applied index, digest).

        Asks every peer now (bounded), so the digests can be compared across replicas.
        """
        from zennode.cluster.topology import build_topology

        own = await self.replica_roles(with_digest=with_digest)
        peers: dict[int, Any] = {}
        if self.peers is not None:
            replies = await self.peers.roles_of_all(with_digest=with_digest, timeout_s=3.0)
            for node_id, reply in replies.items():
                self.router.record(node_id, reply)
                peers[node_id] = (
                    None if reply is None else dict(self.router.peers[node_id].replicas)
                )
        return build_topology(self.config, own, peers)


def _default_partition_factory(
    config: Config, partition_id: int, on_events: Callable[[list[dict[str, Any]]], None]
) -> tuple[Any, Any]:
    """An `Engine` and a Raft `Partition` for one local replica."""
    from zennode.cluster.partition import Partition
    from zennode.engine import Engine

    engine = Engine(partition_id, activations_max=config.limits.loop_iterations_max)
    partition = Partition(
        partition_settings(config, partition_id), apply_fn=engine.apply, on_events=on_events
    )
    return engine, partition


def partition_settings(config: Config, partition_id: int) -> Any:
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
        queue_max=limits.command_queue_max,
        command_max_bytes=limits.request_bytes_max,
        compaction_bytes=config.raft.compaction_bytes,
        fsync_per_batch=config.raft.fsync_per_batch,
    )
