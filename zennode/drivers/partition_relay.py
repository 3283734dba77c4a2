"""The cross-partition command relay: commands one partition sends another (message
subscriptions and correlations, signal broadcasts, a deployment's copy), driven by the sending
partition's leader.

Not to be confused with the node-to-node job relay (`zennode.jobs.job_relay`, worker jobs
between nodes) or with forwarding (`zennode.cluster.client`, a request sent to its
partition's leader).

The engine writes each cross-partition step as a pending row plus a `relay` event
(`zennode.engine.relay`). On the sending partition's leader this relay submits the command to
its target partition (through `ClusterClient.submit`, which forwards to the target's leader
wherever it is), then submits the `ack` back to the sender, which deletes the pending row. A
leader that takes over re-sends every pending row, and a periodic sweep re-sends rows older
than a sweep period (their relay failed); the target commands are idempotent, so a relay sent
twice does no harm. A relay to several partitions (a signal, a deployment's copy) goes to all
of them at once; the ack follows once every one applied it.

Relays for one subscription stay in order (open before close): each goes to one of a few
worker queues chosen by its subscription key.

A target's final refusal (BadRequest, NotFound, InvalidState) of a message or signal relay is
logged and acknowledged: retrying would not change the answer. A deployment's copy is never
acknowledged on a refusal: the ack would mark the deployment distributed while that partition
lacks it (every create routed there would be a 503 for ever), so its row stays, the sweep
re-sends it each period and the refusal is logged at ERROR once per row. A relay that keeps
failing otherwise (unavailable) is logged at WARNING once it was sent `WARN_AFTER_SENDS` times.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from zennode.cluster.client import ClusterClient
from zennode.engine.commands import from_wire
from zennode.engine.relay import RELAY_EVENT, target_partitions
from zennode.errors import BadRequest, InvalidState, NotFound

log = logging.getLogger(__name__)

WORKERS = 4
QUEUE_MAX = 100_000  # per worker; beyond it relays wait for the sweep (their rows persist)
SWEEP_S = 5.0
FINAL_ERRORS = (BadRequest, NotFound, InvalidState)  # retrying would not change the answer
WARN_AFTER_SENDS = 5  # a relay failing this often is logged at WARNING (once per row)
DEPLOYMENT_COPY = "deploy_resources"


class CopyRefused(Exception):
    """A deployment's copy refused by a target: left pending, never acknowledged."""


def _row_id(source: int, relay: dict[str, Any]) -> tuple[int, str]:
    """One pending row's identity across re-sends (its command and ack, as the engine wrote
    them)."""
    return source, repr((relay.get("command"), relay.get("ack")))


class PartitionRelay:
    """Registers itself as an event and role listener of the cluster; `await stop()` on
    shutdown."""

    def __init__(self, cluster: ClusterClient, sweep_s: float = SWEEP_S) -> None:
        self.cluster = cluster
        self.sweep_s = sweep_s
        self.partitions = len(cluster.partition_ids)
        self._queues: list[asyncio.Queue[tuple[int, dict[str, Any]]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._leading: set[int] = set()
        self.sent = 0
        self.dropped = 0
        self._sends: dict[tuple[int, str], int] = {}  # failed sends of each row still pending
        cluster.add_event_listener(self.on_events)
        cluster.add_role_listener(self.on_role)

    def _ensure_started(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._queues = [asyncio.Queue(QUEUE_MAX) for _ in range(WORKERS)]
        self._tasks = [
            loop.create_task(self._work(q), name=f"relay-{i}") for i, q in enumerate(self._queues)
        ]
        self._tasks.append(loop.create_task(self._sweep(), name="relay-sweep"))

    def on_events(self, partition_id: int, events: list[dict[str, Any]]) -> None:
        """Tick thread: hand relay events to the node's loop."""
        relays = [e["relay"] for e in events if e.get("event") == RELAY_EVENT]
        loop = self.cluster.loop
        if relays and loop is not None:
            loop.call_soon_threadsafe(self._enqueue_all, partition_id, relays)

    def on_role(self, partition_id: int, is_leader: bool) -> None:
        """Node loop: a new leader re-sends what its partition still waits for."""
        self._ensure_started()
        if is_leader:
            self._leading.add(partition_id)
            self._resend(partition_id)
        else:
            self._leading.discard(partition_id)
            for row in [r for r in self._sends if r[0] == partition_id]:
                del self._sends[row]  # its new leader counts from here

    def _enqueue_all(self, partition_id: int, relays: list[dict[str, Any]]) -> None:
        self._ensure_started()
        for relay in relays:
            command = relay["command"]
            order_key = command.get("subKey", command.get("signalKey", 0))
            queue = self._queues[order_key % WORKERS]
            try:
                queue.put_nowait((partition_id, relay))
            except asyncio.QueueFull:
                self.dropped += 1  # its pending row stays; the sweep sends it later

    def _resend(self, partition_id: int, sent_before_ms: int | None = None) -> None:
        if not self.cluster.leads(partition_id):
            return
        relays = self.cluster.read_replica(
            partition_id, "pending_relays", sent_before_ms=sent_before_ms
        )
        if relays:
            log.debug("partition %s: re-sending %d pending relays", partition_id, len(relays))
            self._enqueue_all(partition_id, relays)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            older_than = int(time.time() * 1000 - self.sweep_s * 1000)
            for partition_id in list(self._leading):
                try:
                    self._resend(partition_id, sent_before_ms=older_than)
                except Exception as exc:  # noqa: BLE001 - a replica closing under us
                    log.debug("partition %s: relay sweep: %s", partition_id, exc)

    async def _work(self, queue: asyncio.Queue[tuple[int, dict[str, Any]]]) -> None:
        while True:
            source, relay = await queue.get()
            try:
                await self._send(source, relay)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - unavailable: the sweep re-sends it
                self._failed(source, relay, exc)
            else:
                if self._sends:  # a row's identity costs a repr of it: only when rows failed
                    self._sends.pop(_row_id(source, relay), None)

    def _failed(self, source: int, relay: dict[str, Any], exc: Exception) -> None:
        """Count the row's failed sends (the sweep re-sends it); log the first refusal of a
        deployment copy at ERROR and a row that keeps failing at WARNING, once each."""
        row = _row_id(source, relay)
        sends = self._sends[row] = self._sends.get(row, 0) + 1
        if isinstance(exc, CopyRefused) and sends == 1:
            log.error(
                "relay from partition %s: %s; kept pending, re-sent every %ss",
                source,
                exc,
                self.sweep_s,
            )
        elif sends == WARN_AFTER_SENDS:
            log.warning(
                "relay %s from partition %s failed %d times, still re-sent every %ss: %s",
                relay.get("command", {}).get("type"),
                source,
                sends,
                self.sweep_s,
                exc,
            )
        else:
            log.debug("relay from partition %s failed: %s", source, exc)

    async def _send(self, source: int, relay: dict[str, Any]) -> None:
        """The relay's command and ack are stored in wire form (the engine wrote them)."""
        try:
            command = from_wire(relay["command"])
        except BadRequest as exc:  # every target would refuse it: a final answer, as below
            if relay["command"].get("type") == DEPLOYMENT_COPY:
                raise CopyRefused(f"deployment copy unreadable: {exc}") from exc
            log.warning("relay from partition %s refused: %s", source, exc)
        else:
            targets = target_partitions(relay, self.partitions, source)
            outcomes = await asyncio.gather(*(self.cluster.submit(t, command) for t in targets))
            refused: list[str] = []
            for target, outcome in zip(targets, outcomes, strict=True):
                if outcome.error is not None and not isinstance(outcome.error, FINAL_ERRORS):
                    raise outcome.error
                if outcome.error is not None and command.TYPE == DEPLOYMENT_COPY:
                    refused.append(f"partition {target}: {outcome.error}")
                    continue
                if outcome.error is not None:
                    log.warning("relay %s refused by %s: %s", command.TYPE, target, outcome.error)
                self.sent += 1
            if refused:
                raise CopyRefused(f"deployment copy refused by {'; '.join(refused)}")
        if relay.get("ack"):
            try:
                ack_command = from_wire(relay["ack"])
            except BadRequest as exc:
                log.warning("relay ack to partition %s refused: %s", source, exc)
                return
            ack = await self.cluster.submit(source, ack_command)
            if ack.error is not None and not isinstance(ack.error, FINAL_ERRORS):
                raise ack.error

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass
