"""One partition replica: a PySyncObj Raft group whose state is one LMDB environment.

Only the leader accepts commands. Its batcher packs them into one replicated entry; every
replica applies the entry in one LMDB write transaction that also stores the entry's Raft index,
so an entry replayed from the journal after a restart is skipped. The leader answers each
command's future after the commit and then hands the batch's events to `on_events`.

The settings follow ../shared/reference/pysyncobj-findings.md (pysyncobj pinned to 0.3.17):
a secret always (the Raft port unpickles what it receives; our sealed transport,
zennode/cluster/raft_transport.py, authenticates every frame first), a journal file, our own LMDB
snapshot codec, eager append entries with application batching, compaction sized by bytes,
no waiting for a leader (callers fail fast and retry or forward), and entries always smaller
than `appendEntriesBatchSizeBytes` so PySyncObj's broken chunked path for large entries is
never used (a 1 MB deploy is a normal, if large, entry). Snapshots are written off the tick
thread (see `zennode.state.snapshot`). `_RaftGroup` changes two PySyncObj habits that cost
messages (each ~150 us of pickle, zlib and Fernet per side before the sealed transport,
docs/benchmarks.md): a late ack
no longer makes the leader re-send entries, and no commit-index-only round follows each
applied batch.

Failures tell the caller whether a retry is safe: `NotCommitted` (never in the log: retry on
the leader) or `OutcomeUnknown` (may still commit: a blind retry could apply twice). Both
are `Unavailable`, so the API layers map them to 503.

Threads: PySyncObj applies on its tick thread (one per partition); `submit` only queues for
the batcher thread. `on_events` and `on_role_change` run on the tick thread and must not
block.
"""

from __future__ import annotations

import logging
import pickle
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, field, replace
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated
from pysyncobj.monotonic import monotonic as _pysyncobj_monotonic
from pysyncobj.node import Node as RaftPeer
from pysyncobj.syncobj import SyncObjException

from zennode.cluster import idempotency
from zennode.cluster.batcher import Batch, Batcher, BatchLimits, NotCommitted, OutcomeUnknown
from zennode.cluster.journal import LOG_FILE, DurableRaft, RaftJournal
from zennode.cluster.offer_book import OfferBook
from zennode.cluster.raft_quorum import QuorumGuards
from zennode.cluster.raft_transport import sealed_transport
from zennode.cluster.snapshot_transfer import ACK_TYPE, Receiver, Sender
from zennode.engine.offers import BatchOffers, Offer
from zennode.engine.outcome import Outcome
from zennode.engine.storage import KVRead
from zennode.errors import ConfigError, TooLarge, Unavailable, ZennodeError
from zennode.state.lmdb_store import LmdbStore, LmdbTxn, StoreFailed, StoreFull
from zennode.state.snapshot import SnapshotCodec

log = logging.getLogger(__name__)


class _ResendNoise(logging.Filter):
    """PySyncObj 0.3.17 logs CRITICAL "truncating already-applied log entries" whenever a
    follower's ack arrives after the leader already sent the next entry: the leader's next
    index goes back, the entries are sent again and the follower replaces them with the same
    ones (pysyncobj-findings.md §6.2). `_RaftGroup` no longer lets a late ack do that, but a
    leader running stock code (e.g. during a rolling upgrade) or a new leader re-sending what
    a follower already has is still benign; real divergence shows in the replicas' digests.
    Log it at DEBUG instead.
    (The one real danger, a compaction trimming the shortened journal, is guarded in
    `zennode.state.snapshot.SnapshotCodec.check`.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL and "already-applied" in str(record.msg):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_PYSYNCOBJ_LOG = logging.getLogger("pysyncobj.syncobj")
if not any(isinstance(f, _ResendNoise) for f in _PYSYNCOBJ_LOG.filters):
    _PYSYNCOBJ_LOG.addFilter(_ResendNoise())

# apply_fn(txn, command) or, for a command of a batch with push offers, apply_fn(txn,
# command, offers) (`Engine.apply`; zennode.engine.offers).
ApplyFn = Callable[..., Outcome]
EventsFn = Callable[[list[dict[str, Any]]], None]
RoleFn = Callable[[bool], None]

_LAST_NOW_MS = b"last_now_ms"
_U64 = struct.Struct(">Q")
_PICKLE = pickle.HIGHEST_PROTOCOL
_MAX_GROW_RETRIES = 8
_RAFT_LEADER_STATE = 2  # pysyncobj.syncobj._RAFT_STATE.LEADER
# PySyncObj failures after which the entry is certainly not (and never will be) in the log.
_NEVER_APPLIED = frozenset(
    {
        FAIL_REASON.QUEUE_FULL,
        FAIL_REASON.MISSING_LEADER,
        FAIL_REASON.DISCARDED,
        FAIL_REASON.NOT_LEADER,
        FAIL_REASON.REQUEST_DENIED,
    }
)
_ROLE_NAMES = {0: "follower", 1: "candidate", 2: "leader"}
_ENTRY_MARGIN_BYTES = 1 << 20  # batch framing + PySyncObj's own pickling around the payload


@dataclass
class PartitionSettings:
    """Everything one partition replica needs; times in seconds or ms as named.

    `partition_id` may be left 0 when the id is passed to `Partition` separately (the
    `Partition(partition_id, settings, ...)` form of docs/architecture.md); `peers` is accepted
    as another name for `peer_addresses`.
    """

    partition_id: int = 0
    self_address: str = ""  # "host:port" this replica's Raft port binds to (and only to)
    data_dir: Path = Path()  # this replica's own directory: LMDB env, Raft journal, dump
    peer_addresses: list[str] = field(default_factory=list)  # empty for a single replica
    secret: str | None = None  # required with peers; a random one is made for a single replica
    raft_min_timeout_s: float = 0.45
    raft_max_timeout_s: float = 1.3
    append_entries_period_s: float = 0.1
    connection_timeout_s: float = 3.5
    # Check-quorum: a leader that hears from no majority for this long steps down (PySyncObj's
    # default is 30 s, during which a cut-off leader keeps accepting commands that cannot
    # commit). None: the maximum election timeout, by which the others have elected anew.
    leader_fallback_s: float | None = None
    # How long a read waits for a majority to confirm the leader (ReadIndex, raft_quorum.py).
    # None: the maximum election timeout.
    read_confirm_timeout_s: float | None = None
    connection_retry_s: float = 1.0
    batch_max_items: int = 200
    batch_max_bytes: int = 256 * 1024
    batch_max_delay_ms: float = 2.0
    # Adaptive batching (zennode.cluster.batcher.Pace): the most a small batch waits for
    # more commands while they arrive quickly (0: off), as a fraction of a commit round trip.
    batch_adapt_max_ms: float = 20.0
    batch_adapt_fraction: float = 1.0
    max_in_flight_batches: int = 8
    in_flight_timeout_s: float = 30.0
    # Push offers (`raft.activate_in_batch`): the leader's job manager may post offers
    # (`offer_book`) that its batches carry, so a job is activated in the batch creating it.
    push_offers: bool = False
    queue_max: int = 10_000
    command_max_bytes: int = 4 * 1024 * 1024
    compaction_bytes: int = 64 * 1024 * 1024  # journal bytes applied before a snapshot
    compaction_max_entries: int = 200_000  # backstop for many tiny entries
    compaction_min_time_s: float = 3600.0
    snapshot_chunk_bytes: int = 1024 * 1024
    # Snapshot bytes a leader sends a follower beyond its last ack (zennode.cluster.
    # snapshot_transfer): bounds what a cut connection loses and the leader's read per tick.
    snapshot_window_bytes: int = 8 * 1024 * 1024
    # Durable Raft log and LMDB (`raft.fsync`): nothing is acknowledged before it is on disk
    # on a majority (zennode.cluster.journal); False keeps it all in the page cache.
    fsync: bool = True
    # Idempotency records (zennode.cluster.idempotency): window and count per kind.
    idempotency_limits: idempotency.Limits = field(default_factory=idempotency.Limits)
    map_size_bytes: int = 1 << 30
    stop_drain_s: float = 1.0  # on stop, how long in-flight batches may still commit
    stop_tick_timeout_s: float = 30.0  # on stop, how long the Raft tick thread may take to end
    peers: InitVar[list[str] | None] = None

    def __post_init__(self, peers: list[str] | None) -> None:
        self.data_dir = Path(self.data_dir)
        if peers:
            self.peer_addresses = [*self.peer_addresses, *peers]
        self.peer_addresses = [p for p in self.peer_addresses if p != self.self_address]
        if not self.self_address or ":" not in self.self_address:
            raise ConfigError(f"self_address must be host:port, not {self.self_address!r}")
        if str(self.data_dir) in ("", "."):
            raise ConfigError("partition data_dir must be set")
        if self.peer_addresses and not self.secret:
            raise ConfigError(
                f"partition {self.partition_id}: a replicated partition needs a secret "
                "(the Raft port accepts pickled data)"
            )
        if self.raft_min_timeout_s <= 3 * self.append_entries_period_s:
            raise ConfigError("raft_min_timeout_s must exceed 3 x append_entries_period_s")
        if self.raft_max_timeout_s <= self.raft_min_timeout_s:
            raise ConfigError("raft_max_timeout_s must exceed raft_min_timeout_s")


class _RaftGroup(QuorumGuards, DurableRaft, SyncObj):
    """The PySyncObj object; all real work is delegated to the owning Partition.

    The durable Raft log (journal, fsync'd acknowledgements and commit counting) is the
    `DurableRaft` mixin of zennode/cluster/journal.py; the overrides below are about messages.
    """

    def __init__(
        self,
        owner: Partition,
        self_address: str,
        peers: list[str],
        conf: SyncObjConf,
        journal: RaftJournal,
        transport_class: Callable[..., Any],
    ):
        self._owner = owner
        owner._group = self  # the tick thread may apply journal entries before __init__ returns
        settings = owner.settings
        self._init_guards(
            min_timeout_s=settings.raft_min_timeout_s,
            read_timeout_s=settings.read_confirm_timeout_s or settings.raft_max_timeout_s,
        )
        self._durable_init(journal)
        self._snapshot_from: RaftPeer | None = None  # the leader that sends us a snapshot
        super().__init__(self_address, peers, conf, transportClass=transport_class)
        # Chunked, resumable snapshot transfer in place of PySyncObj's (pinned 0.3.17).
        serializer = self._SyncObj__serializer
        serializer.getTransmissionData = owner._snapshot_sender.next_chunk
        serializer.setTransmissionData = owner._snapshot_receiver.on_chunk
        serializer.cancelTransmisstion = owner._snapshot_sender.cancel
        self.addOnTickCallback(owner._snapshot_receiver.flush)
        self._durable_attach()
        self.addOnTickCallback(self.serve_confirmed_reads)

    def _on_journal_failed(self, why: str) -> None:
        self._owner.halt(f"the Raft journal cannot be written ({why})")

    def send_snapshot_ack(self, message: dict[str, Any]) -> None:
        """Follower: answer the leader that sends us a snapshot (zennode.cluster.
        snapshot_transfer); tick thread or the snapshot verify thread."""
        node = self._snapshot_from
        if node is not None:
            self._SyncObj__transport.send(node, message)  # pinned pysyncobj 0.3.17

    def _SyncObj__onMessageReceived(self, node: RaftPeer, message: dict[str, Any]) -> None:  # noqa: N802
        """Route snapshot transfer acks (ours) to the sender, then:

        Keep the leader's next index for a follower from going back on a late ack.

        PySyncObj 0.3.17 sets `nextIndex = ack + 1` on every successful `next_node_idx`
        whose match index advances. With eager sends several AppendEntries are in flight, so
        the ack of an older one moves the next index back behind entries already sent; the
        next send repeats them, and the follower truncates its log back to that point and
        appends the same entries again (logged as "truncating already-applied log entries").
        Under load that re-sends each batch several times over (pickle, zlib and Fernet on
        hundreds of KB per message on the leader, journal rewrites on the follower) and was
        the source of the 80-300 ms stalls. Raft only needs to move the next index back on a
        rejection (`reset`, which this leaves to PySyncObj); on success it may only advance.
        A message lost with a dropped connection is caught by the follower's rejection of the
        next AppendEntries (its log lacks the previous entry), as before.
        """
        if message.get("type") == ACK_TYPE:
            if self._owner._snapshot_sender.on_ack(node, message):
                # Send the next part at this tick's end rather than after the heartbeat period:
                # rounds stay small (`Sender.round_bytes`), applies run in between.
                self._SyncObj__newAppendEntriesTime = 0.0  # pinned pysyncobj 0.3.17
            return
        if message.get("serialized") is not None:
            self._snapshot_from = node
        if (
            message.get("type") == "next_node_idx"
            and message.get("success")
            and not message.get("reset")
            and self._SyncObj__raftState == _RAFT_LEADER_STATE  # pinned pysyncobj 0.3.17
        ):
            next_idx = message["next_node_idx"]
            match_index = self._SyncObj__raftMatchIndex
            if match_index.get(node, 0) < next_idx - 1:
                match_index[node] = next_idx - 1
            next_index = self._SyncObj__raftNextIndex
            if next_index.get(node, 0) < next_idx:
                next_index[node] = next_idx
            self._SyncObj__lastResponseTime[node] = _pysyncobj_monotonic()
            return
        super()._SyncObj__onMessageReceived(node, message)

    def _SyncObj__applyLogEntries(self) -> bool:  # noqa: N802
        """Apply committed entries, but ask for no extra AppendEntries round afterwards.

        In eager mode PySyncObj 0.3.17 sends every follower an AppendEntries after each tick
        that applied anything, only to tell them the new commit index; each costs a message
        and an ack per follower (~150 us of pickle, zlib and Fernet on each side). Followers
        learn the commit index from the next batch's AppendEntries or, when idle, from the
        periodic heartbeat (`append_entries_period_s`), so this drops half of the leader's
        messages per batch. Only followers' apply is delayed by it (by at most one period);
        commits, the leader's answers and elections do not depend on it.
        """
        SyncObj._SyncObj__applyLogEntries(self)  # type: ignore[attr-defined]
        return False

    def _SyncObj__sendAppendEntries(self) -> None:  # noqa: N802, C901
        """PySyncObj 0.3.17's `__sendAppendEntries`, changed only where it sends a snapshot.

        Stock, a follower below the log's start keeps the loop going for a whole
        `appendEntriesPeriod`: `nextIndex <= currentIndex` stays true, so when the serializer
        has nothing to send (a probe unanswered, the window full) the leader sends an empty
        message again and again, spinning its tick thread for 100 ms per round (measured:
        hundreds of empty messages per second, and the leader's apply held up meanwhile).
        Here, when `snapshot_transfer.Sender` has nothing to send, one empty message goes out
        (it is the follower's heartbeat) and the loop moves on to the next follower. Entries
        are sent as in 0.3.17, always whole: its chunked path for an entry at or above
        `appendEntriesBatchSizeBytes` was buggy and never ran here anyway (`_conf` keeps
        entries below that size).
        """
        conf = self._SyncObj__conf
        self._SyncObj__newAppendEntriesTime = _pysyncobj_monotonic() + conf.appendEntriesPeriod
        start = _pysyncobj_monotonic()
        self._owner._snapshot_sender.begin_round()
        batch_bytes = conf.appendEntriesBatchSizeBytes
        transport = self._SyncObj__transport
        connected = self._SyncObj__connectedNodes
        next_index = self._SyncObj__raftNextIndex
        for node in self._SyncObj__otherNodes | self._SyncObj__readonlyNodes:
            if node not in connected:
                self._SyncObj__serializer.cancelTransmisstion(node)
                continue
            send_single = True
            sending_serialized = False
            node_next = next_index[node]
            while (
                node_next <= self._SyncObj__getCurrentLogIndex()
                or send_single
                or (sending_serialized)
            ):
                log_ = self._SyncObj__raftLog
                if node_next > log_[0][1]:
                    prev_idx, prev_term = self._SyncObj__getPrevLogIndexTerm(node_next)
                    entries = []
                    if node_next <= self._SyncObj__getCurrentLogIndex():
                        entries = self._SyncObj__getEntries(node_next, None, batch_bytes)
                        next_index[node] = entries[-1][1] + 1
                    transport.send(
                        node,
                        {
                            "type": "append_entries",
                            "term": self._SyncObj__raftCurrentTerm,
                            "commit_index": self._SyncObj__raftCommitIndex,
                            "entries": entries,
                            "prevLogIdx": prev_idx,
                            "prevLogTerm": prev_term,
                        },
                    )
                    if node not in connected:
                        break
                else:
                    data = self._SyncObj__serializer.getTransmissionData(node)
                    transport.send(
                        node,
                        {
                            "type": "append_entries",
                            "term": self._SyncObj__raftCurrentTerm,
                            "commit_index": self._SyncObj__raftCommitIndex,
                            "serialized": data,
                        },
                    )
                    if node not in connected or data is None:
                        break  # nothing more to send to it this round (see above)
                    if data[2]:  # the last part: the follower is past the snapshot
                        next_index[node] = self._SyncObj__raftLog[1][1] + 1
                        sending_serialized = False
                    else:
                        sending_serialized = True
                node_next = next_index[node]
                send_single = False
                if _pysyncobj_monotonic() - start > conf.appendEntriesPeriod:
                    break

    @replicated
    def apply_batch(self, payload: bytes) -> int:
        # PySyncObj fetches entries from raftLastApplied + 1 and increments raftLastApplied
        # only after this call returns: this is the index of the entry being applied
        # (pinned pysyncobj 0.3.17; tests/cluster/test_partition.py checks it).
        return self._owner._apply_entry(payload, self.raftLastApplied + 1)


class Partition:
    """A partition replica. Thread-safe: `submit`/`read`/`status` from any thread."""

    def __init__(
        self,
        settings: PartitionSettings | int,
        *args: Any,
        apply_fn: ApplyFn | None = None,
        on_events: EventsFn | None = None,
        on_role_change: RoleFn | None = None,
    ) -> None:
        """`Partition(settings, apply_fn, on_events=None, on_role_change=None)`.

        The form `Partition(partition_id, settings, apply_fn=..., on_events=...)` of
        docs/architecture.md is accepted too.
        """
        positional = list(args)
        if isinstance(settings, int):
            if not positional or not isinstance(positional[0], PartitionSettings):
                raise TypeError("Partition(partition_id, settings, ...) needs PartitionSettings")
            given: PartitionSettings = positional.pop(0)
            settings = replace(given, partition_id=settings)
        if len(positional) > 3:
            raise TypeError("Partition takes settings, apply_fn, on_events, on_role_change")
        named: list[Any] = [apply_fn, on_events, on_role_change]
        for i, value in enumerate(positional):
            if named[i] is not None:
                raise TypeError("Partition got an argument twice")
            named[i] = value
        apply_fn, on_events, on_role_change = named
        if apply_fn is None:
            raise TypeError("Partition needs apply_fn")
        if settings.partition_id < 1:
            raise ConfigError(f"partition id must be >= 1, got {settings.partition_id}")
        self.settings = settings
        self.partition_id = settings.partition_id
        self._apply_fn = apply_fn
        self._on_events = on_events
        self._on_role_change = on_role_change
        # Elections this replica won since it started, and the one it leads in now (None: not
        # leading), as the tick thread saw them: one attribute, so a reader on another thread
        # never sees a leadership without its epoch (`leader_epoch`).
        self._elections_won = 0
        self._leadership: int | None = None
        self._stopped = False
        # Why this replica stopped applying (a violated engine invariant), or None.
        self.halted: str | None = None
        self._stop_lock = threading.Lock()
        self._entries_applied = 0  # Raft entries this process applied (not skipped)
        self._entries_skipped = 0
        # Optional `fn(commands, apply_seconds)` after each applied batch, on the tick thread
        # (metrics); set it before traffic starts. It must not block.
        self.on_batch_applied: Callable[[int, float], None] | None = None
        self._compaction_counter = 0
        self._compaction_threshold = self._staggered_compaction_bytes()
        self._idempotency = idempotency.Table(settings.idempotency_limits)

        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = LmdbStore(
            data_dir / "lmdb", map_size_bytes=settings.map_size_bytes, sync=settings.fsync
        )
        self.journal = RaftJournal(
            data_dir,
            durable=settings.fsync,
            name=f"raft-p{settings.partition_id}@{settings.self_address}",
        )
        self._codec = SnapshotCodec(
            self.store, data_dir / "raft.dump", log_end_index=self._log_end_index
        )
        dump_file = str(data_dir / "raft.dump")
        self._snapshot_sender = Sender(
            dump_file, settings.snapshot_chunk_bytes, settings.snapshot_window_bytes
        )
        self._snapshot_receiver = Receiver(dump_file, self._send_snapshot_ack)
        # Where the leader's job manager posts push offers (None: the feature is off).
        self.offer_book: OfferBook | None = OfferBook() if settings.push_offers else None
        self._batcher = Batcher(
            settings.partition_id,
            BatchLimits(
                max_items=settings.batch_max_items,
                max_bytes=settings.batch_max_bytes,
                max_delay_ms=settings.batch_max_delay_ms,
                adapt_max_ms=settings.batch_adapt_max_ms,
                adapt_fraction=settings.batch_adapt_fraction,
                queue_max=settings.queue_max,
                max_in_flight_batches=settings.max_in_flight_batches,
                in_flight_timeout_s=settings.in_flight_timeout_s,
            ),
            send=self._send_batch,
            offers=self.offer_book,
        )
        self._batcher.start()
        secret = settings.secret or secrets.token_urlsafe(32)
        self._group: _RaftGroup
        try:
            peers = list(settings.peer_addresses)
            _RaftGroup(
                self,
                settings.self_address,
                peers,
                self._conf(),
                self.journal,
                sealed_transport(secret),
            )
        except Exception:
            self._batcher.stop(Unavailable("start failed", partition_id=self.partition_id))
            self.journal.close()
            self.store.close()
            raise
        # PySyncObj's tick thread exits when the thread that built the SyncObj ends; the node
        # builds partitions in an executor thread, so tie the tick thread to the main thread.
        self._group._SyncObj__mainThread = threading.main_thread()  # pinned 0.3.17
        self._poke_marker: tuple[int, int] = (-1, -1)
        if not settings.peer_addresses:
            self._group.addOnTickCallback(self._poke_single_replica)
        try:
            self._group.waitBinded()
        except SyncObjException as exc:
            self._group.destroy_synchronous()
            self._group._durable_close()
            self._batcher.stop(Unavailable("start failed", partition_id=self.partition_id))
            self.journal.close()
            self.store.close()
            raise ConfigError(
                f"partition {self.partition_id}: cannot bind Raft port {settings.self_address}"
            ) from exc

    # Configuration.

    def _conf(self) -> SyncObjConf:
        s = self.settings
        largest_entry = max(s.command_max_bytes, s.batch_max_bytes) + _ENTRY_MARGIN_BYTES
        return SyncObjConf(
            password=None,  # the sealed transport (raft_transport.py) authenticates instead
            bindAddress=s.self_address,  # never 0.0.0.0 (PySyncObj's default)
            appendEntriesUseBatch=False,
            appendEntriesPeriod=s.append_entries_period_s,
            # Entries stay below this, so the buggy >=64 KiB chunked transfer never runs.
            appendEntriesBatchSizeBytes=2 * largest_entry,
            raftMinTimeout=s.raft_min_timeout_s,
            raftMaxTimeout=s.raft_max_timeout_s,
            leaderFallbackTimeout=max(
                s.leader_fallback_s or s.raft_max_timeout_s, 2 * s.append_entries_period_s
            ),
            connectionTimeout=max(s.connection_timeout_s, s.raft_max_timeout_s),
            connectionRetryTime=s.connection_retry_s,
            commandsWaitLeader=False,
            commandsQueueSize=max(64, s.max_in_flight_batches * 4),
            journalFile=None,  # the journal is zennode.cluster.journal.RaftJournal (DurableRaft)
            fullDumpFile=str(s.data_dir / "raft.dump"),
            serializer=self._codec.serialize,
            serializeChecker=self._codec.check,  # snapshots are written off the tick thread
            deserializer=self._deserialize,
            logCompactionMinEntries=s.compaction_max_entries,
            logCompactionMinTime=s.compaction_min_time_s,
            logCompactionSplit=False,  # compaction is forced by bytes, staggered per replica
            logCompactionBatchSize=s.snapshot_chunk_bytes,
            dynamicMembershipChange=False,
            onStateChanged=self._on_state_changed,
            sendBufferSize=1 << 18,
            recvBufferSize=1 << 18,
            bindRetryTime=0.5,
            maxBindRetries=4,  # ~1.5 s: outlasts a port briefly held by an outgoing connection
        )

    def _staggered_compaction_bytes(self) -> int:
        """Replicas cross the same byte count on the same entry; stagger so they don't all
        serialize (on their tick threads) at the same moment."""
        members = sorted([self.settings.self_address, *self.settings.peer_addresses])
        rank = members.index(self.settings.self_address)
        return int(self.settings.compaction_bytes * (1 + 0.25 * rank))

    # Submitting (leader only).

    def submit(self, command: dict[str, Any]) -> Future[Outcome]:
        """Queue a command; the future resolves after the batch holding it commits.

        Raises Unavailable on a non-leader (the node forwards), Backpressure when the queue
        is full, TooLarge over `command_max_bytes`. Never blocks.
        """
        if self._stopped or self.halted is not None:
            why = "halted" if self.halted is not None else "stopped"
            raise NotCommitted(f"partition is {why}", partition_id=self.partition_id)
        if not self._group._isLeader():
            leader = self.leader_address
            raise NotCommitted(
                f"partition {self.partition_id}: not the leader (leader: {leader or 'none'})",
                partition_id=self.partition_id,
            )
        payload = pickle.dumps(command, protocol=_PICKLE)
        if len(payload) > self.settings.command_max_bytes:
            raise TooLarge(
                f"command of {len(payload)} bytes exceeds {self.settings.command_max_bytes}"
            )
        return self._batcher.submit(payload)

    def _send_batch(self, batch: Batch) -> None:
        """Batcher thread: one replicated call per batch, answered by callback."""
        if not self._group._isLeader():
            # PySyncObj would forward it to the new leader and, on a further leader change,
            # report a failure although it may still commit: refuse while that is certain.
            self._batcher.fail(
                batch.batch_id,
                NotCommitted(f"partition {self.partition_id}: leadership lost", self.partition_id),
            )
            return
        entry: tuple[Any, ...] = (
            batch.batch_id,
            batch.now_ms,
            [(p.request_id, p.payload) for p in batch.items],
        )
        if batch.offers:  # a fourth element only then: older entries (and journals) stay valid
            entry += ([offer.to_wire() for offer in batch.offers],)
        payload = pickle.dumps(entry, protocol=_PICKLE)
        batch_id = batch.batch_id

        def on_result(_result: Any, error: int) -> None:
            if error != FAIL_REASON.SUCCESS:
                kind = NotCommitted if error in _NEVER_APPLIED else OutcomeUnknown
                self._batcher.fail(
                    batch_id,
                    kind(
                        f"partition {self.partition_id}: batch not committed "
                        f"({_fail_reason_name(error)})",
                        partition_id=self.partition_id,
                    ),
                )

        self._group.apply_batch(payload, callback=on_result)

    # Applying (every replica, on the Raft tick thread).

    def _apply_entry(self, payload: bytes, index: int) -> int:
        batch_id, now_ms, items, *rest = pickle.loads(payload)
        offers_wire: list[Any] = rest[0] if rest else []
        started = time.perf_counter()
        for _attempt in range(_MAX_GROW_RETRIES):
            # Fresh offers for each attempt: an aborted txn used none of them.
            offers = BatchOffers(Offer.from_wire(raw) for raw in offers_wire)
            try:
                outcomes = self._apply_in_txn(index, now_ms, items, offers or None)
                break
            except StoreFull:
                self.store.grow()  # the txn was aborted; retry the whole batch
            except AssertionError as exc:  # the txn was aborted: nothing of the batch is stored
                self.halt(f"invariant violated applying entry {index}: {exc!r}", index, exc)
                raise
            except StoreFailed as exc:  # the disk refused LMDB's commit; the txn was aborted
                self.halt(f"LMDB cannot be written applying entry {index}: {exc}", index, exc)
                raise
        else:
            raise StoreFull(f"partition {self.partition_id}: LMDB map cannot grow enough")
        if outcomes is None:
            self._entries_skipped += 1
            stale = self._batcher.take(batch_id, committed=False)  # its offers: lost
            if stale is not None:  # e.g. our forwarded batch arrived inside a snapshot
                error = OutcomeUnknown("applied via a snapshot, result lost", self.partition_id)
                for pending in stale.items:
                    if not pending.future.done():
                        pending.future.set_exception(error)
            return index
        self._entries_applied += 1
        if self.on_batch_applied is not None:
            try:
                self.on_batch_applied(len(items), time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - metrics must not break apply
                log.exception("partition %d: batch listener failed", self.partition_id)
        self._compaction_counter += len(payload)
        if self._compaction_counter >= self._compaction_threshold:
            self._compaction_counter = 0
            self._group.forceLogCompaction()
        self._answer(batch_id, items, outcomes, offers)
        return index

    def _apply_in_txn(
        self,
        index: int,
        now_ms: int,
        items: list[tuple[int, bytes]],
        offers: BatchOffers | None = None,
    ) -> list[Outcome] | None:
        with self.store.write() as txn:
            if index <= txn.applied_index():
                return None  # replayed from the journal: already in LMDB
            raw_last = txn.raft_get(_LAST_NOW_MS)
            now = max(now_ms, _U64.unpack(raw_last)[0] if raw_last else 0)
            outcomes = [self._apply_command(txn, payload, now, offers) for _rid, payload in items]
            self._idempotency.prune(txn, now)
            txn.raft_put(_LAST_NOW_MS, _U64.pack(now))
            txn.set_applied_index(index)
        return outcomes

    def _apply_command(
        self, txn: LmdbTxn, payload: bytes, now_ms: int, offers: BatchOffers | None
    ) -> Outcome:
        command = pickle.loads(payload)
        command["now_ms"] = now_ms
        key = idempotency.detach(command)
        if key is None:
            return self._apply_engine(txn, command, offers)
        first = self._idempotency.lookup(txn, key)
        if first is not None:
            return first  # applied before (or a conflict): nothing is applied again
        outcome = self._apply_engine(txn, command, offers)
        self._idempotency.record(txn, key, outcome, now_ms)
        return outcome

    def _apply_engine(
        self, txn: LmdbTxn, command: dict[str, Any], offers: BatchOffers | None
    ) -> Outcome:
        try:
            if offers is not None:
                return self._apply_fn(txn, command, offers)
            return self._apply_fn(txn, command)
        except (StoreFull, StoreFailed, AssertionError):
            raise  # StoreFull: grow and retry the batch; the others halt (_apply_entry)
        except ZennodeError as exc:  # an engine that raises instead of returning an error
            return Outcome(error=exc)
        except Exception as exc:  # noqa: BLE001 - one bad command must not stop the partition
            if txn.store_failed is not None:
                raise StoreFailed(str(txn.store_failed)) from exc
            if txn.store_error is not None:
                raise StoreFull(str(txn.store_error)) from exc
            log.exception(
                "partition %d: applying %r failed", self.partition_id, command.get("type")
            )
            return Outcome(error=ZennodeError(f"internal error in {command.get('type')}: {exc}"))

    def halt(self, why: str, index: int | None = None, exc: BaseException | None = None) -> None:
        """Stop this replica, loudly: a violated engine invariant, or a disk that refuses
        writes (the Raft journal or LMDB: ENOSPC, EIO).

        An ordinary bad command is refused (an error outcome, state unchanged). A failed
        assertion says the state itself breaks an invariant, and building on it would let this
        replica drift from the others, so, as TigerBeetle does, the replica stops applying,
        loudly: it fails what waits on it, leaves Raft (it neither leads nor votes any more),
        refuses new commands, and reports `halted` in its status while its node goes on
        serving the other partitions. Apply is deterministic, so every replica that applies
        the entry halts on it; restart the node after a fix (the entry is applied again).
        A disk that refused a write is treated the same way (retrying an fsync that failed
        can report success for data the kernel dropped): free the space or replace the disk,
        then restart the node; it reads back what the disk really holds, and the others, if a
        majority is left, serve meanwhile. Idempotent (called on every tick until Raft stops).
        """
        if self.halted is not None:
            return
        self.halted = why
        log.critical(
            "partition %d: %s; this replica stops (LMDB stays at entry %s)",
            self.partition_id,
            why,
            "?" if index is None else index - 1,
            exc_info=exc,
        )
        error = f"partition {self.partition_id} halted: {self.halted}"
        self._batcher.fail_queued(NotCommitted(error, self.partition_id))
        self._batcher.fail_in_flight(OutcomeUnknown(error, self.partition_id))
        self._group.destroy()  # the tick thread ends after this tick (PySyncObj logs the raise)

    def _answer(
        self,
        batch_id: Any,
        items: list[tuple[int, bytes]],
        outcomes: list[Outcome],
        offers: BatchOffers,
    ) -> None:
        """After commit: settle our own offers (before the events, so the job manager knows
        its pushed jobs when it sees them), resolve our own futures, then (on the leader) hand
        out the events. Our batch's offers are settled even after leadership moved: its jobs
        are locked to their workers, and only this replica knows to push them."""
        batch = self._batcher.take(batch_id)
        if batch is not None and batch.offers and self.offer_book is not None:
            self.offer_book.settle(offers.used, offers.unused())
        if batch is not None:
            for pending, (request_id, _payload), outcome in zip(
                batch.items, items, outcomes, strict=True
            ):
                if pending.request_id != request_id:  # an invariant, not a user error
                    raise AssertionError(f"batch {batch_id}: request ids out of order")
                if not pending.future.done():
                    pending.future.set_result(outcome)
        if self._on_events is not None and self._group._isLeader():
            events = [event for outcome in outcomes for event in outcome.events]
            if events:
                try:
                    self._on_events(events)
                except Exception:  # noqa: BLE001 - a listener must not break apply
                    log.exception("partition %d: event listener failed", self.partition_id)

    def _deserialize(self, file_name: str) -> Any:
        """Load a snapshot (tick thread), then restart the election timer.

        Verifying and installing a large snapshot can take longer than the election timeout;
        PySyncObj armed the timer when the last chunk arrived, so without this the follower
        would call an election at its next tick and depose a healthy leader."""
        try:
            return self._codec.deserialize(file_name)
        finally:
            group = getattr(self, "_group", None)
            if group is not None and hasattr(group, "_SyncObj__raftElectionDeadline"):
                group._SyncObj__raftElectionDeadline = (  # pinned pysyncobj 0.3.17
                    time.monotonic() + self.settings.raft_max_timeout_s
                )

    def _send_snapshot_ack(self, message: dict[str, Any]) -> None:
        group = getattr(self, "_group", None)
        if group is not None:
            group.send_snapshot_ack(message)

    def _log_end_index(self) -> int:
        """Raft index of the last journal entry (tick thread; pinned pysyncobj 0.3.17)."""
        return int(self._group._SyncObj__raftLog[-1][1])

    def _poke_single_replica(self) -> None:
        """Tick thread, end of a tick: let a lone leader commit what it just appended.

        PySyncObj computes the commit index at the start of a tick and appends new commands
        near its end, then sleeps in poll() for autoTickPeriod (50 ms). With followers, their
        replies wake it; a single replica has none, so every command would wait 50 ms. Waking
        the poller once per new batch or per step of progress keeps commits at ~1 ms and never
        spins on a batch that makes no progress.
        """
        if not self._batcher.in_flight_count() or not self._group._isLeader():
            return
        marker = (self._batcher.batches_sent, self._group.raftLastApplied)
        if marker == self._poke_marker:
            return
        self._poke_marker = marker
        notifier = getattr(self._group, "_SyncObj__pipeNotifier", None)  # pinned 0.3.17
        if notifier is not None:
            notifier.notify()

    def _on_state_changed(self, _old: int, new: int) -> None:
        """Tick thread, on every Raft state change: each election won opens a new leadership
        epoch, so a replica that loses and wins back leadership between two looks of an
        observer (the node's role watcher) is still seen to have changed term."""
        is_leader = new == _RAFT_LEADER_STATE
        if is_leader == (self._leadership is not None):
            return
        if is_leader:
            self._elections_won += 1
            self._leadership = self._elections_won
        else:
            self._leadership = None
            self._batcher.fail_queued(
                NotCommitted(f"partition {self.partition_id}: leadership lost", self.partition_id)
            )
        log.info("partition %d: %s", self.partition_id, "leader" if is_leader else "follower")
        self._notify_role(is_leader)

    def _notify_role(self, is_leader: bool) -> None:
        if self._on_role_change is not None:
            try:
                self._on_role_change(is_leader)
            except Exception:  # noqa: BLE001 - a listener must not break Raft
                log.exception("partition %d: role listener failed", self.partition_id)

    # Reading and status.

    @contextmanager
    def read(self) -> Iterator[KVRead]:
        """A read-only view of this replica's LMDB, whatever its role (follower or cut-off
        leader: possibly stale). Linearizable reads wait for `read_barrier()` first."""
        with self.store.read() as txn:
            yield txn

    def read_barrier(self) -> Future[None]:
        """Resolves once this replica has confirmed with a majority that it still leads and has
        applied everything committed before the call (ReadIndex, `raft_quorum.py`): a read
        made after it sees every write acknowledged before. Fails with NotCommitted when this
        replica does not lead (any more) or no majority answered in time. Any thread."""
        if self._stopped:
            future: Future[None] = Future()
            future.set_exception(NotCommitted("partition is stopped", self.partition_id))
            return future
        return self._group.confirm_leadership()

    @property
    def is_leader(self) -> bool:
        return not self._stopped and self.halted is None and self._group._isLeader()

    @property
    def leader_epoch(self) -> int | None:
        """Which leadership of this replica is current: the count of elections it had won when
        it won this one (1, 2, ...), or None when it does not lead (follower, candidate,
        halted, stopped). Two equal values mean the same term of leadership; a leader whose
        epoch changed lost and regained leadership in between, and anything it kept from the
        earlier term (offers, in-flight jobs, drivers) may be stale. Any thread."""
        epoch = self._leadership
        return epoch if epoch is not None and self.is_leader else None

    @property
    def leader_address(self) -> str | None:
        if self.halted is not None:
            return None  # a halted replica follows no one: its node is not ready
        leader = self._group._getLeader()
        return getattr(leader, "address", None) if leader is not None else None

    def wait_for_leader(self, timeout_s: float) -> str:
        """Block until some replica leads (returns its address) or raise Unavailable."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leader = self.leader_address
            if leader is not None:
                return leader
            time.sleep(0.02)
        raise Unavailable(
            f"partition {self.partition_id}: no leader after {timeout_s} s",
            partition_id=self.partition_id,
        )

    def applied_index(self) -> int:
        return self.store.applied_index()

    def digest(self) -> str:
        return self.store.digest()

    def status(self) -> dict[str, Any]:
        group = self._group
        state = getattr(group, "_SyncObj__raftState", 0)  # private, pinned pysyncobj 0.3.17
        fsync_p50, fsync_p99 = self.journal.latency_percentiles_ms()
        command_gap_ms, batch_round_trip_ms = self._batcher.pace_ms()
        return {
            "partition": self.partition_id,
            "role": _ROLE_NAMES.get(state, "follower"),
            "term": group.raftCurrentTerm,
            "commit_index": group.raftCommitIndex,
            "raft_applied_index": group.raftLastApplied,
            "applied_index": self.store.applied_index(),
            "leader": self.leader_address,
            "raft_address": self.settings.self_address,
            "raft_port": int(self.settings.self_address.rsplit(":", 1)[1]),
            "log_entries": group._getRaftLogSize(),
            "pending_commands": self._batcher.pending_count(),
            "batches_sent": self._batcher.batches_sent,
            "commands_sent": self._batcher.commands_sent,
            "max_batch_items": self._batcher.max_batch_items,
            "command_gap_ms": command_gap_ms,  # moving averages, adaptive batching's inputs
            "batch_round_trip_ms": batch_round_trip_ms,
            "entries_applied": self._entries_applied,
            "entries_skipped": self._entries_skipped,
            "snapshots_written": self._codec.written,
            "snapshots_installed": self._codec.installs,
            "snapshots_refused": self._codec.refused,
            "snapshot_transfer": {
                "sent_bytes": self._snapshot_sender.bytes_sent,
                "sent_completed": self._snapshot_sender.completed,
                "sent_resumed": self._snapshot_sender.resumed,
                "send_refused": self._snapshot_sender.refused,
                **{f"received_{k}": v for k, v in self._snapshot_receiver.stats().items()},
            },
            "lmdb_bytes": self.store.size_bytes(),
            "lmdb_file_bytes": _file_bytes(self.store.path / "data.mdb"),
            "journal_bytes": _file_bytes(self.settings.data_dir / LOG_FILE),
            "snapshot_bytes": _file_bytes(self.settings.data_dir / "raft.dump"),
            "fsync": self.settings.fsync,
            "log_durable_index": self._durable_index(),
            "fsyncs": self.journal.fsyncs,
            "fsync_p50_ms": fsync_p50,
            "fsync_p99_ms": fsync_p99,
            "tick_thread_alive": group.tick_thread_alive(),
            "pre_votes_started": group.pre_votes_started,
            "pre_votes_won": group.pre_votes_won,
            "read_rounds": group.read_rounds_started,
            "halted": self.halted,
            "peers": self._peer_status(),
        }

    def _durable_index(self) -> int | None:
        try:
            return self.journal.durable_index()
        except IndexError:  # the tick thread cut the log while we looked
            return None

    def _peer_status(self) -> list[dict[str, Any]]:
        """Each peer's address, whether this replica is connected to it and, on the leader,
        the highest Raft index known to be replicated there (PySyncObj's match index)."""
        group = self._group
        is_leader = group._isLeader()
        match: dict[Any, int] = {}
        for _attempt in range(3):  # the tick thread may resize the dict while we copy it
            try:
                match = dict(getattr(group, "_SyncObj__raftMatchIndex", {}))
                break
            except RuntimeError:
                continue
        by_address = {getattr(node, "address", None): idx for node, idx in match.items()}
        peers = []
        for node in sorted(group.otherNodes, key=lambda n: str(getattr(n, "address", n))):
            address = getattr(node, "address", str(node))
            peers.append(
                {
                    "address": address,
                    "connected": group.isNodeConnected(node),
                    "match_index": by_address.get(address) if is_leader else None,
                }
            )
        return peers

    def force_compaction(self) -> None:
        """Take a snapshot and truncate the journal at the next tick (tests, admin)."""
        self._group.forceLogCompaction()

    def stop(self) -> None:
        """Stop cleanly: fail what is pending, stop Raft (flushes the journal), close LMDB."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        message = f"partition {self.partition_id} is stopping"
        self._batcher.close(NotCommitted(message, self.partition_id))
        # Give batches already handed to Raft a moment to commit, so their callers get the
        # real outcome instead of "unknown" (which invites a retry that would apply twice).
        deadline = time.monotonic() + self.settings.stop_drain_s
        while self._batcher.in_flight_count() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._group.destroy()  # the tick thread ends after its current tick, flushing the journal
        deadline = time.monotonic() + self.settings.stop_tick_timeout_s
        while self._group.tick_thread_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._group.tick_thread_alive():
            log.error(
                "partition %d: Raft tick thread still busy after %.0f s; LMDB left open",
                self.partition_id,
                self.settings.stop_tick_timeout_s,
            )
            self._batcher.fail_in_flight(OutcomeUnknown(message, self.partition_id))
            return
        if self._leadership is not None:
            self._leadership = None
            self._notify_role(False)
        self._batcher.fail_in_flight(OutcomeUnknown(message, self.partition_id))
        self._group._durable_close()
        self.journal.close()  # PySyncObj closed it on its last tick; this is a no-op then
        self._codec.wait(timeout_s=60)
        self._snapshot_sender.close()
        self.store.close()


def _fail_reason_name(code: int) -> str:
    for name in dir(FAIL_REASON):
        if not name.startswith("_") and getattr(FAIL_REASON, name) == code:
            return name
    return str(code)


def _file_bytes(path: Path) -> int:
    """Size of a file on disk now (0 when it does not exist yet): a stat, never a scan."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
