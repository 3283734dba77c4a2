"""Pre-vote and ReadIndex on PySyncObj 0.3.17 (Raft thesis §9.6 and §6.4), which has neither.

Why (docs/reliability.md, tests/partitions): a leader cut off from its peers kept answering
reads from its own replica after the majority had elected a new leader and acknowledged new
writes (stale reads), and a node coming back from isolation, whose term had climbed with every
election it called alone, deposed healthy leaders on every partition.

- **Pre-vote**: when its election timer fires, a follower first asks its peers whether they
  *would* vote for it in the next term (`zn_pre_vote`), without raising its own term. A peer
  grants it only if the candidate's log is at least as up to date as its own and the peer has
  not heard from a leader for the minimum election timeout. Only a majority of grants starts
  the real election. A node cut off from the others never gets a majority, so its term stays
  put and it cannot disrupt anybody when it returns. A transfer of leadership (Raft
  TimeoutNow, the leader balancer) skips the pre-vote, as the thesis says.
- **Check-quorum** is PySyncObj's own `leaderFallbackTimeout` (a leader that got no answer
  from a majority for that long steps down); the partition sets it to the election timeout.
- **ReadIndex**: `confirm_leadership()` returns a future that resolves once this replica has
  proved it still leads *after the call* — a heartbeat round (`zn_read_ping`) answered by a
  majority whose terms are not above the leader's — and has applied everything committed when
  the round began (at least its own term's first entry). A read served then sees every write
  acknowledged before it started. Concurrent reads share one round; one round is in flight
  at a time.

PySyncObj ignores message types it does not know, so every node of a cluster must run this
code (membership is static; a mixed cluster would never grant pre-votes).

This is a mixin for `partition._RaftGroup` (before `SyncObj` in its bases). It overrides
`_onTick` and `_SyncObj__onMessageReceived` and reads SyncObj's private state by its mangled
names, pinned to pysyncobj 0.3.17 (tests/cluster/test_partition.py checks they still exist).
Everything below runs on the partition's tick thread except `confirm_leadership`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from pysyncobj.node import Node as RaftPeer

from zennode.cluster.batcher import NotCommitted
from zennode.errors import Backpressure

_LEADER_STATE = 2  # pysyncobj.syncobj._RAFT_STATE.LEADER
READS_WAITING_MAX = 10_000  # reads queued for the next round before backpressure

PRE_VOTE = "zn_pre_vote"
PRE_VOTE_REPLY = "zn_pre_vote_reply"
READ_PING = "zn_read_ping"
READ_PONG = "zn_read_pong"


@dataclass
class _ReadRound:
    seq: int
    term: int
    read_index: int
    started_at: float
    futures: list[Future[None]] = field(default_factory=list)
    confirmed: bool = False


class QuorumGuards:
    """Pre-vote and ReadIndex for a `SyncObj` subclass (see the module docstring)."""

    _SyncObj__raftState: int
    _SyncObj__raftCurrentTerm: int
    _SyncObj__raftCommitIndex: int
    _SyncObj__raftElectionDeadline: float
    _SyncObj__transferInProgress: bool
    _SyncObj__otherNodes: set[RaftPeer]
    _SyncObj__selfNode: Any
    _SyncObj__transport: Any
    _SyncObj__noopIDx: int | None

    def _init_guards(self, min_timeout_s: float, read_timeout_s: float) -> None:
        """Call before `SyncObj.__init__` (its tick thread may start ticking during it)."""
        self._min_timeout_s = min_timeout_s
        self._read_timeout_s = read_timeout_s
        self._reads_lock = threading.Lock()
        self._reads_waiting: list[Future[None]] = []
        self._read_rounds: list[_ReadRound] = []
        self._read_seq = 0
        self._read_acked: dict[RaftPeer, int] = {}  # peer -> highest round it confirmed
        self._leader_heard_at = 0.0  # monotonic time of the last append_entries from a leader
        self._pre_vote_term = 0  # the term a running pre-vote asks for (0: none)
        self._pre_vote_round = 0  # which of our rounds runs: replies to older ones are stale
        self._pre_vote_grants: set[RaftPeer] = set()
        self._pre_vote_won_term = 0  # the term a won pre-vote allows the election for
        self.pre_votes_started = 0
        self.pre_votes_won = 0
        self.read_rounds_started = 0

    # ------------------------------------------------------------ any thread

    def confirm_leadership(self) -> Future[None]:
        """A future resolved when a read may be served linearizably from this replica, or
        failed with `NotCommitted` (not the leader, or no majority confirmed it within the
        read timeout) or `Backpressure`."""
        future: Future[None] = Future()
        with self._reads_lock:
            if len(self._reads_waiting) >= READS_WAITING_MAX:
                future.set_exception(Backpressure("too many reads waiting for a leader check"))
                return future
            self._reads_waiting.append(future)
        notifier = getattr(self, "_SyncObj__pipeNotifier", None)
        if notifier is not None:
            notifier.notify()  # start the round now, not after the poll's timeout
        return future

    # ------------------------------------------------------------ tick thread

    def _majority(self, count: int) -> bool:
        return count > (len(self._SyncObj__otherNodes) + 1) / 2

    def _onTick(self, timeToWait: float = 0.0) -> None:  # noqa: N803 - SyncObj's signature
        self._pre_vote_tick()
        self._read_tick()
        super()._onTick(timeToWait)  # type: ignore[misc]

    def _SyncObj__onMessageReceived(self, peer: RaftPeer, message: dict[str, Any]) -> None:  # noqa: N802
        kind = message.get("type")
        if kind == PRE_VOTE:
            self._on_pre_vote(peer, message)
        elif kind == PRE_VOTE_REPLY:
            self._on_pre_vote_reply(peer, message)
        elif kind == READ_PING:
            self._on_read_ping(peer, message)
        elif kind == READ_PONG:
            self._on_read_pong(peer, message)
        else:
            if kind == "append_entries" and message["term"] >= self._SyncObj__raftCurrentTerm:
                self._leader_heard_at = time.monotonic()
                self._pre_vote_term = self._pre_vote_won_term = 0
            super()._SyncObj__onMessageReceived(peer, message)  # type: ignore[misc]

    # Pre-vote.

    def _pre_vote_tick(self) -> None:
        """Before SyncObj's tick: when the election timer fired, hold the election back until a
        pre-vote for the next term has won a majority."""
        if self._SyncObj__raftState == _LEADER_STATE or self._SyncObj__selfNode is None:
            self._pre_vote_term = self._pre_vote_won_term = 0
            return
        if self._SyncObj__transferInProgress:
            return  # the leader asked us to take over (TimeoutNow): elect at once
        now = time.monotonic()
        if self._SyncObj__raftElectionDeadline >= now:
            return
        if not self._SyncObj__connectedToAnyone():  # type: ignore[attr-defined]
            return  # SyncObj will not elect either
        next_term = self._SyncObj__raftCurrentTerm + 1
        if self._pre_vote_won_term == next_term:
            self._pre_vote_won_term = 0
            return  # SyncObj's tick starts the real election now
        # Start a pre-vote round and push the election back by a fresh random timeout: if the
        # round fails (no majority answers), the next timeout tries again, term unchanged.
        self._SyncObj__raftElectionDeadline = now + self._SyncObj__generateRaftTimeout()  # type: ignore[attr-defined]
        self._pre_vote_term = next_term
        self._pre_vote_grants = set()
        self.pre_votes_started += 1
        self._pre_vote_round = self.pre_votes_started
        message = {
            "type": PRE_VOTE,
            "term": next_term,
            "round": self._pre_vote_round,
            "last_log_index": self._SyncObj__getCurrentLogIndex(),  # type: ignore[attr-defined]
            "last_log_term": self._SyncObj__getCurrentLogTerm(),  # type: ignore[attr-defined]
        }
        for peer in self._SyncObj__otherNodes:
            self._SyncObj__transport.send(peer, message)
        self._count_pre_votes()

    def _on_pre_vote(self, peer: RaftPeer, message: dict[str, Any]) -> None:
        """Would we vote for `peer` in `message["term"]`? Answer without changing any state."""
        own_log = (self._SyncObj__getCurrentLogTerm(), self._SyncObj__getCurrentLogIndex())  # type: ignore[attr-defined]
        granted = (
            message["term"] > self._SyncObj__raftCurrentTerm
            and (message["last_log_term"], message["last_log_index"]) >= own_log
            and self._SyncObj__raftState != _LEADER_STATE
            and time.monotonic() - self._leader_heard_at >= self._min_timeout_s
        )
        self._SyncObj__transport.send(
            peer,
            {
                "type": PRE_VOTE_REPLY,
                "term": message["term"],
                "granted": granted,
                "round": message.get("round"),
            },
        )

    def _on_pre_vote_reply(self, peer: RaftPeer, message: dict[str, Any]) -> None:
        """Count a grant only for the round that runs. Rounds for the same term look alike
        otherwise: a grant of an earlier round, delivered late (after a heartbeat ended that
        round), would count toward a later one that nobody granted, e.g. of a node cut off
        since."""
        if (
            message.get("granted")
            and message["term"] == self._pre_vote_term
            and message.get("round") == self._pre_vote_round
        ):
            self._pre_vote_grants.add(peer)
            self._count_pre_votes()

    def _count_pre_votes(self) -> None:
        term = self._pre_vote_term
        if term and term == self._SyncObj__raftCurrentTerm + 1:
            if self._majority(len(self._pre_vote_grants) + 1):
                self._pre_vote_term = 0
                self._pre_vote_won_term = term
                self.pre_votes_won += 1
                self._SyncObj__raftElectionDeadline = 0.0  # elect at the next tick

    # ReadIndex.

    def _read_tick(self) -> None:
        """Before SyncObj's tick: fail what can no longer be confirmed, serve what can, start
        a round for the reads that arrived since the last one."""
        now = time.monotonic()
        leader = self._SyncObj__raftState == _LEADER_STATE
        for round_ in list(self._read_rounds):
            if not leader or round_.term != self._SyncObj__raftCurrentTerm:
                self._fail_round(round_, "leadership lost before the read was confirmed")
            elif not round_.confirmed and now - round_.started_at > self._read_timeout_s:
                self._fail_round(round_, "no majority confirmed the leadership in time")
        self.serve_confirmed_reads()
        if any(not r.confirmed for r in self._read_rounds):
            return  # one round in flight; the reads waiting go with the next one
        with self._reads_lock:
            waiting, self._reads_waiting = self._reads_waiting, []
        if not waiting:
            return
        if not leader:
            error = NotCommitted("not the leader: the read must go to the leader")
            for future in waiting:
                _fail(future, error)
            return
        self._read_seq += 1
        self.read_rounds_started += 1
        term = self._SyncObj__raftCurrentTerm
        # Everything committed now, and at least this term's first entry (so the commit index
        # covers every earlier leader's acknowledged writes).
        read_index = max(self._SyncObj__raftCommitIndex, self._SyncObj__noopIDx or 0)
        round_ = _ReadRound(self._read_seq, term, read_index, now, waiting)
        self._read_rounds.append(round_)
        ping = {"type": READ_PING, "term": term, "seq": round_.seq}
        for peer in self._SyncObj__otherNodes:
            self._SyncObj__transport.send(peer, ping)
        self._confirm_rounds()

    def _on_read_ping(self, peer: RaftPeer, message: dict[str, Any]) -> None:
        """A follower's answer: fine as long as it has not moved to a later term (it can only
        have voted for another leader in a later term)."""
        ok = message["term"] >= self._SyncObj__raftCurrentTerm
        self._SyncObj__transport.send(
            peer,
            {
                "type": READ_PONG,
                "term": message["term"],
                "seq": message["seq"],
                "ok": ok,
            },
        )

    def _on_read_pong(self, peer: RaftPeer, message: dict[str, Any]) -> None:
        if not message.get("ok") or message["term"] != self._SyncObj__raftCurrentTerm:
            return
        if message["seq"] > self._read_acked.get(peer, 0):
            self._read_acked[peer] = message["seq"]
            self._confirm_rounds()
            self.serve_confirmed_reads()

    def _confirm_rounds(self) -> None:
        """A pong for round s confirms every round up to s (their pings went out no later)."""
        for round_ in self._read_rounds:
            if round_.confirmed:
                continue
            acks = sum(
                1 for p in self._SyncObj__otherNodes if self._read_acked.get(p, 0) >= round_.seq
            )
            if self._majority(acks + 1):
                round_.confirmed = True

    def serve_confirmed_reads(self) -> None:
        """Release the reads of confirmed rounds whose read index is applied (tick thread;
        the partition also calls it after each applied batch)."""
        if not self._read_rounds:
            return
        applied = self.raftLastApplied  # type: ignore[attr-defined]
        for round_ in list(self._read_rounds):
            if round_.confirmed and round_.read_index <= applied:
                self._read_rounds.remove(round_)
                for future in round_.futures:
                    if not future.done():
                        future.set_result(None)

    def _fail_round(self, round_: _ReadRound, why: str) -> None:
        self._read_rounds.remove(round_)
        error = NotCommitted(why)
        for future in round_.futures:
            _fail(future, error)


def _fail(future: Future[None], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
