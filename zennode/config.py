"""Node configuration: YAML into typed, frozen dataclasses, checked strictly at start-up.

Why strict: a typo in a config key (`replication_factr: 3`) silently falling back to a default
is how clusters end up with one replica. Every unknown key and every wrong type is a
`ConfigError` that names the key, and the CLI prints it as one line and exits with status 2.

One config describes the whole cluster (`members`) plus which member this process is
(`node_id`), so every node computes the same replica placement from the same file. The
embedded default (`DEFAULT_YAML`, also written out as `cluster-configs/single.yaml`) is one
node on 127.0.0.1 with one partition and data under `./data`.

All limits live in `Limits`, with safe defaults, so no layer hides a constant of its own.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from zennode.engine.keys import MAX_PARTITION_ID
from zennode.errors import BadRequest, ConfigError
from zennode.event_loop import EVENT_LOOPS

# --port-base N: HTTP N, public gRPC N+1, internal gRPC N+2, Raft N+10+partition id.
PORT_OFFSET_GRPC = 1
PORT_OFFSET_INTERNAL = 2
PORT_OFFSET_RAFT_BASE = 10


@dataclass(frozen=True, slots=True)
class Ports:
    """The TCP ports of one node, all bound on the member's `host`."""

    http: int = 8080  # REST, /metrics, health
    grpc: int = 26500  # public gRPC: ZenBpm.JobStream and the Zeebe gateway
    internal: int = 26502  # node-to-node gRPC (forwarding, topology)
    raft_base: int = 26510  # Raft port of partition p = raft_base + p

    def raft(self, partition_id: int) -> int:
        return self.raft_base + partition_id

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """The `--port-base N` layout (documented in the README)."""
        return cls(
            http=base,
            grpc=base + PORT_OFFSET_GRPC,
            internal=base + PORT_OFFSET_INTERNAL,
            raft_base=base + PORT_OFFSET_RAFT_BASE,
        )


@dataclass(frozen=True, slots=True)
class Member:
    """One node of the cluster as every other node sees it."""

    id: int = 1
    host: str = "127.0.0.1"
    ports: Ports = field(default_factory=Ports)


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound of the node in one place (TigerBeetle: put a limit on everything)."""

    request_bytes_max: int = 4 * 1024 * 1024  # one HTTP request body
    bpmn_bytes_max: int = 1024 * 1024  # one deployed BPMN resource
    variables_bytes_max: int = 256 * 1024  # JSON of one variables document
    page_size_max: int = 100  # `size` of a list request
    command_queue_max: int = 10_000  # pending commands per partition before backpressure
    batch_items_max: int = 100  # commands per replicated batch
    batch_bytes_max: int = 256 * 1024  # bytes per replicated batch (one Raft entry)
    batch_wait_ms: int = 2  # how long the batcher waits to fill a batch
    leader_wait_ms: int = 5_000  # how long a request waits for a partition leader
    request_timeout_ms: int = 10_000  # how long a request waits for its command to commit
    handler_threads: int = 4  # internal job handler thread pool
    handler_queue_max: int = 10_000  # internal jobs waiting for a handler thread
    job_lock_timeout_ms: int = 30_000  # default lock of an activated job
    worker_jobs_max: int = 32  # jobs in flight per external worker
    loop_iterations_max: int = 10_000  # engine steps per command (endless gateway loops)
    idempotency_window_s: int = 86_400  # how long an Idempotency-Key's first answer is kept
    idempotency_keys_max: int = 100_000  # Idempotency-Keys kept per partition (oldest go first)


@dataclass(frozen=True, slots=True)
class Raft:
    """PySyncObj timing (see shared/reference/pysyncobj-findings.md for the measurements)."""

    min_timeout_s: float = 0.45  # must exceed 3 x the append-entries period (0.1 s)
    max_timeout_s: float = 1.3
    compaction_bytes: int = 64 * 1024 * 1024  # journal bytes before a log compaction
    # Nothing is acknowledged before it is on disk on a majority: the Raft log is fsync'd
    # with group commit and LMDB syncs every commit. false: page cache only, a power loss can
    # lose acknowledged commands (docs/reliability.md says exactly what).
    fsync: bool = True
    balance_leaders: bool = True  # hand each partition's leadership to its first replica
    # Adaptive batching on a partition leader: while commands arrive faster than
    # `batch_adapt_fraction` of a commit round trip, a small batch waits that long (at most
    # `batch_adapt_max_ms`) for more, so they share one Raft entry and fsync. 0: off.
    # (docs/benchmarks.md, "Issue 19: adaptive batching": −12 to −23 % CPU per instance.)
    batch_adapt_max_ms: int = 20
    batch_adapt_fraction: float = 1.0
    # Push offers (zennode.engine.offers): the leader's job manager reserves room of waiting
    # workers and its batches carry it, so a job is created already activated for a waiting
    # worker: one commit per pushed job instead of two. false: create, then `activate_jobs`.
    activate_in_batch: bool = True


@dataclass(frozen=True, slots=True)
class Retention:
    """How long ended instances are kept (docs/operations.md, "Retention").

    An ended instance (completed, terminated) stays readable for its history time to live,
    then it is deleted with everything it owns by replicated `purge_history` commands the
    partition leader submits. `history_ttl` is the default for instances created without
    `historyTimeToLive`: an ISO 8601 duration (`P7D`), ZenBPM's short form (`7d`, `12h`,
    `15m`, `90s`) or `0` (delete as soon as it ended, as Zeebe does).
    """

    history_ttl: str | int = "7d"
    purge_interval_ms: int = 1000  # how often the leader looks for ended instances that are due
    purge_chunk: int = 100  # ended root instances deleted per replicated command (bounded)

    @property
    def history_ttl_ms(self) -> int:
        from zennode.engine.retention import parse_ttl

        return parse_ttl(str(self.history_ttl))


@dataclass(frozen=True, slots=True)
class Auth:
    """API bearer tokens (REST and public gRPC); none = no authentication (docs/security.md).

    `ZENNODE_API_TOKENS` (comma separated) adds tokens without writing them into a file.
    """

    tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tls:
    """Certificate and key (PEM files) for REST and public gRPC; both unset = plain TCP."""

    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class Log:
    level: str = "INFO"
    format: str = "text"  # text | json


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration of one node process."""

    node_id: int = 1
    data_dir: str = "./data"
    partitions: int = 1
    replication_factor: int = 1
    secret: str | None = None  # PySyncObj password; required when there is more than one member
    members: tuple[Member, ...] = (Member(),)
    limits: Limits = field(default_factory=Limits)
    raft: Raft = field(default_factory=Raft)
    retention: Retention = field(default_factory=Retention)
    log: Log = field(default_factory=Log)
    auth: Auth = field(default_factory=Auth)
    tls: Tls = field(default_factory=Tls)
    # The node's asyncio loop: uvloop (less CPU per request) or asyncio (the standard loop).
    event_loop: str = "uvloop"

    @property
    def me(self) -> Member:
        for member in self.members:
            if member.id == self.node_id:
                return member
        raise ConfigError(f"node_id: {self.node_id} is not one of the members")

    @property
    def host(self) -> str:
        return self.me.host

    @property
    def ports(self) -> Ports:
        return self.me.ports

    @property
    def partition_ids(self) -> range:
        return range(1, self.partitions + 1)

    def replicas_of(self, partition_id: int) -> list[int]:
        """Member ids hosting `partition_id`: R consecutive members from (p - 1) mod N.

        Deterministic from the config alone, so every node computes the same map.
        """
        ids = sorted(m.id for m in self.members)
        start = (partition_id - 1) % len(ids)
        return [ids[(start + i) % len(ids)] for i in range(self.replication_factor)]

    @property
    def local_partition_ids(self) -> list[int]:
        return [p for p in self.partition_ids if self.node_id in self.replicas_of(p)]

    def with_overrides(
        self,
        data_dir: str | None = None,
        port_base: int | None = None,
        log_format: str | None = None,
    ) -> Config:
        """Apply the CLI overrides (`--data-dir`, `--port-base`, `--log-format`)."""
        config = self
        if data_dir is not None:
            config = replace(config, data_dir=data_dir)
        if port_base is not None:
            _check_port(port_base, "--port-base")
            _check_port(port_base + PORT_OFFSET_RAFT_BASE + config.partitions, "--port-base")
            ports = Ports.from_base(port_base)
            members = tuple(
                replace(m, ports=ports) if m.id == config.node_id else m for m in config.members
            )
            config = replace(config, members=members)
        if log_format is not None:
            config = replace(config, log=replace(config.log, format=log_format))
        validate(config)
        return config


DEFAULT_YAML = """\
# zennode: the embedded default configuration (one node, one partition).
# `zennode start` without --config uses exactly this. Every key is optional.
node_id: 1                 # which of the members this process is
data_dir: ./data           # one LMDB environment and Raft journal per partition under here
partitions: 1              # number of partitions (Raft groups) in the cluster
replication_factor: 1      # replicas per partition (<= number of members)
secret: null               # Raft password; required as soon as there is more than one member
event_loop: uvloop         # the node's asyncio loop: uvloop, or asyncio (the standard one)
members:
  - id: 1
    host: 127.0.0.1        # every port of this node binds here
    ports:
      http: 8080           # REST API, /metrics, health
      grpc: 26500          # public gRPC (ZenBpm.JobStream, Zeebe gateway)
      internal: 26502      # node-to-node gRPC
      raft_base: 26510     # Raft port of partition p = raft_base + p
limits:
  request_bytes_max: 4194304
  bpmn_bytes_max: 1048576
  variables_bytes_max: 262144
  page_size_max: 100
  command_queue_max: 10000
  batch_items_max: 100
  batch_bytes_max: 262144
  batch_wait_ms: 2
  leader_wait_ms: 5000
  request_timeout_ms: 10000
  handler_threads: 4
  handler_queue_max: 10000
  job_lock_timeout_ms: 30000
  worker_jobs_max: 32
  loop_iterations_max: 10000
  idempotency_window_s: 86400   # an Idempotency-Key's first answer is kept this long
  idempotency_keys_max: 100000  # ... and at most this many keys per partition
raft:
  min_timeout_s: 0.45
  max_timeout_s: 1.3
  compaction_bytes: 67108864
  fsync: true              # acknowledge only what is fsync'd on a majority (docs/reliability.md)
  balance_leaders: true    # move each partition's leadership to its first replica
  batch_adapt_max_ms: 20   # adaptive batching: most a small batch waits for more (0 = off)
  batch_adapt_fraction: 1.0  # ... as a fraction of a commit round trip
  activate_in_batch: true  # a job created while a worker waits is pushed after one commit
retention:
  history_ttl: 7d          # ended instances are deleted after this (P7D, 7d, 12h, 0 = at once)
  purge_interval_ms: 1000  # how often the leader looks for ended instances that are due
  purge_chunk: 100         # ended instances deleted per replicated command
log:
  level: INFO
  format: text             # text | json
auth:
  tokens: []               # API bearer tokens (REST, gRPC); empty = open (ZENNODE_API_TOKENS adds)
tls:
  cert_file: null          # PEM certificate: with key_file, REST and gRPC serve TLS
  key_file: null
"""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


def default_config() -> Config:
    return parse_config(DEFAULT_YAML, source="<embedded default>")


def load_config(path: str | Path | None) -> Config:
    """Read a YAML file (or the embedded default when `path` is None)."""
    if path is None:
        return default_config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}:{where} is not valid YAML") from exc
    if data is None:
        data = {}
    config = _build(Config, data, "")
    validate(config)
    return config


# Keys that were renamed: a clear message instead of "unknown key".
_RENAMED = {"raft.fsync_per_batch": "raft.fsync (on by default, covers the Raft log and LMDB)"}


def _build(cls: type, data: Any, path: str) -> Any:
    """Build dataclass `cls` from a YAML mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {_type_name(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = f"{path}.{key}" if path else str(key)
        if name in _RENAMED:
            raise ConfigError(f"{name}: replaced by {_RENAMED[name]} (docs/reliability.md)")
        if key not in fields:
            raise ConfigError(f"{name}: unknown key (allowed: {', '.join(fields)})")
        values[key] = _convert(hints[key], raw, name)
    return cls(**values)


def _convert(hint: Any, raw: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if raw is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        for option in inner[:-1]:  # `str | int`: the first type that fits
            try:
                return _convert(option, raw, name)
            except ConfigError:
                continue
        return _convert(inner[-1], raw, name)
    if origin is tuple:
        (item,) = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if not isinstance(raw, list):
            raise ConfigError(f"{name}: expected a list, got {_type_name(raw)}")
        return tuple(_convert(item, v, f"{name}[{i}]") for i, v in enumerate(raw))
    if dataclasses.is_dataclass(hint):
        return _build(hint, raw, name)
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{name}: expected true/false, got {_type_name(raw)}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigError(f"{name}: expected an integer, got {_type_name(raw)}")
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ConfigError(f"{name}: expected a number, got {_type_name(raw)}")
        return float(raw)
    if hint is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{name}: expected a string, got {_type_name(raw)}")
        return raw
    raise ConfigError(f"{name}: unsupported type {hint!r}")  # a bug in this module


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _check_port(port: int, name: str) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name}: port {port} is outside 1..65535")


def validate(config: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    if not 1 <= config.partitions <= min(MAX_PARTITION_ID, 1000):
        raise ConfigError(f"partitions: {config.partitions} is outside 1..1000")
    if not config.members:
        raise ConfigError("members: at least one member is required")
    ids = [m.id for m in config.members]
    if len(set(ids)) != len(ids):
        raise ConfigError("members: member ids must be unique")
    if config.node_id not in ids:
        raise ConfigError(f"node_id: {config.node_id} is not one of the members {ids}")
    if not 1 <= config.replication_factor <= len(ids):
        raise ConfigError(
            f"replication_factor: {config.replication_factor} must be between 1 and the "
            f"number of members ({len(ids)})"
        )
    if len(ids) > 1 and not config.secret:
        raise ConfigError(
            "secret: a cluster with more than one member needs a secret "
            "(the Raft ports unpickle what they receive)"
        )
    if not config.data_dir:
        raise ConfigError("data_dir: must not be empty")
    for member in config.members:
        prefix = f"members[id={member.id}].ports"
        p = member.ports
        for port_name in ("http", "grpc", "internal"):
            _check_port(getattr(p, port_name), f"{prefix}.{port_name}")
        _check_port(p.raft(1), f"{prefix}.raft_base")
        _check_port(p.raft(config.partitions), f"{prefix}.raft_base")
        fixed = {p.http, p.grpc, p.internal}
        raft = {p.raft(pid) for pid in config.partition_ids}
        if len(fixed) != 3 or fixed & raft:
            raise ConfigError(f"{prefix}: ports overlap")
    for key, value in dataclasses.asdict(config.limits).items():
        if value <= 0:
            raise ConfigError(f"limits.{key}: must be positive, got {value}")
    if not 0.35 < config.raft.min_timeout_s < config.raft.max_timeout_s:
        raise ConfigError("raft: need 0.35 < min_timeout_s < max_timeout_s")
    if not 0 <= config.raft.batch_adapt_max_ms <= 100:
        raise ConfigError("raft.batch_adapt_max_ms: must be between 0 and 100")
    if not 0 < config.raft.batch_adapt_fraction <= 1:
        raise ConfigError("raft.batch_adapt_fraction: must be in (0, 1]")
    if config.log.level.upper() not in LOG_LEVELS:
        raise ConfigError(f"log.level: {config.log.level!r} is not one of {', '.join(LOG_LEVELS)}")
    if (config.tls.cert_file is None) != (config.tls.key_file is None):
        raise ConfigError("tls: set both cert_file and key_file, or neither")
    if any(not token for token in config.auth.tokens):
        raise ConfigError("auth.tokens: a token must not be empty")
    retention = config.retention
    if isinstance(retention.history_ttl, int) and retention.history_ttl != 0:
        raise ConfigError("retention.history_ttl: write a duration like '30d' or 'P30D' (or 0)")
    try:
        retention.history_ttl_ms  # noqa: B018 - parsed here so a bad text fails at start-up
    except BadRequest as exc:
        raise ConfigError(f"retention.history_ttl: {exc}") from exc
    if retention.purge_interval_ms <= 0 or retention.purge_chunk <= 0:
        raise ConfigError("retention: purge_interval_ms and purge_chunk must be positive")
    if config.event_loop not in EVENT_LOOPS:
        raise ConfigError(
            f"event_loop: {config.event_loop!r} is not one of {', '.join(EVENT_LOOPS)}"
        )
    if config.log.format not in LOG_FORMATS:
        raise ConfigError(f"log.format: {config.log.format!r} is not one of text, json")
