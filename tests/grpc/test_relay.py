"""The node-to-node job relay (`zennode.jobs.job_relay`) over a real gRPC server on 127.0.0.1,
with fake job managers on the serving side and a fake client side: subscriptions travel up
(also as a resync on reconnect), jobs come down, a relay break frees its workers only after
the grace and not at all when the node comes back in time, and the cluster secret is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from support.ports import reserve_port
from support.waits import eventually

from zennode.jobs import job_relay
from zennode.jobs.manager import Settings, partition_share

pytestmark = pytest.mark.timeout(30)

SECRET = "s3cret"


class FakeManager:
    """Records what the relay asks of one partition's manager; pushes through the sinks."""

    def __init__(self, partition_id: int) -> None:
        self.partition_id = partition_id
        self.sinks: dict[str, Any] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.remote: dict[str, bool] = {}  # worker id -> subscribed as not local

    def subscribe(
        self, sink: Any, job_type: str, lock_ms: int, jobs_max: int, local: bool = True
    ) -> None:
        self.sinks[sink.worker_id] = sink
        self.remote[sink.worker_id] = not local
        self.calls.append(("subscribe", sink.worker_id, (job_type, lock_ms, jobs_max)))

    def unsubscribe(self, worker_id: str, job_type: str) -> None:
        self.calls.append(("unsubscribe", worker_id, job_type))

    def remove_worker(self, worker_id: str) -> None:
        self.calls.append(("remove", worker_id, None))

    def named(self, kind: str) -> list[str]:
        return [worker for call, worker, _ in self.calls if call == kind]


class ServingStreams:
    """The serving node's `JobStreams` as the relay service sees it."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.managers = {pid: FakeManager(pid) for pid in (1, 2)}
        self.released: list[tuple[int, str, list[int]]] = []
        self.claims: list[tuple[str, int, int]] = []  # (client id, opened at, node) heard
        self.holder_of: Any = None

    def use_remote_clients(self, holder_of: Any) -> None:
        self.holder_of = holder_of

    def claimed_elsewhere(self, client_id: str, opened_at_ms: int, node_id: int) -> None:
        self.claims.append((client_id, opened_at_ms, node_id))

    def share(self, jobs_max: int, partition_id: int) -> int:
        return partition_share(jobs_max, partition_id, [1, 2])

    def release_undelivered(self, partition_id: int, worker_id: str, keys: list[int]) -> None:
        self.released.append((partition_id, worker_id, keys))


class HoldingStreams:
    """The node holding worker streams, as its `JobRelayLink` sees it."""

    def __init__(
        self,
        subscriptions: list[tuple[str, str, int, int]],
        opened: list[tuple[str, int]] | None = None,
    ) -> None:
        self._subscriptions = subscriptions
        self._opened = opened or []
        self.delivered: list[tuple[int, str, dict[str, Any]]] = []

    def subscriptions(self) -> list[tuple[str, str, int, int]]:
        return list(self._subscriptions)

    def open_workers(self) -> list[tuple[str, int]]:
        return list(self._opened)

    def deliver_relayed(self, partition_id: int, worker_id: str, job: dict[str, Any]) -> None:
        self.delivered.append((partition_id, worker_id, job))


@contextlib.asynccontextmanager
async def serving_node() -> AsyncIterator[tuple[ServingStreams, Any, int]]:
    streams = ServingStreams()
    server = grpc.aio.server()
    service = job_relay.add_job_relay(server, streams, SECRET)  # type: ignore[arg-type]
    port = reserve_port().port
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield streams, service, port
    finally:
        await server.stop(grace=0.2)


def link_to(port: int, holding: HoldingStreams, secret: str = SECRET) -> job_relay.JobRelayLink:
    member = SimpleNamespace(id=2, host="127.0.0.1", ports=SimpleNamespace(internal=port))
    config = SimpleNamespace(node_id=1, secret=secret)
    link = job_relay.JobRelayLink(holding, member, config)  # type: ignore[arg-type]
    link.start()
    return link


def run(coro: Any) -> None:
    asyncio.run(asyncio.wait_for(coro, 25))


def test_subscriptions_go_up_jobs_come_down_and_a_remove_frees_the_worker() -> None:
    async def scenario() -> None:
        async with serving_node() as (serving, service, port):
            holding = HoldingStreams([("w1#a", "pay", 5_000, 10)])
            link = link_to(port, holding)
            try:
                manager = serving.managers[1]
                await eventually(lambda: "w1#a" in manager.sinks, 5, "the resync")
                # the limit of 10 is split over the two partitions
                assert manager.calls[0] == ("subscribe", "w1#a", ("pay", 5_000, 5))
                assert manager.remote["w1#a"], "a relayed worker is not local to the manager"
                link.subscribe("w2#b", "ship", 0, 0)
                await eventually(lambda: "w2#b" in serving.managers[2].sinks, 5, "a subscribe")
                sink = serving.managers[2].sinks["w2#b"]
                assert all(sink.deliver({"key": key, "type": "ship"}) for key in (7, 8, 9))
                await eventually(lambda: len(holding.delivered) == 3, 5, "the pushed jobs")
                assert [(p, w, j["key"]) for p, w, j in holding.delivered] == [
                    (2, "w2#b", 7),
                    (2, "w2#b", 8),
                    (2, "w2#b", 9),
                ]
                link.unsubscribe("w2#b", "ship")
                link.remove_worker("w1#a")
                await eventually(lambda: manager.named("remove") == ["w1#a"], 5, "the remove")
                assert ("unsubscribe", "w2#b", "ship") in serving.managers[2].calls
                assert service.stats["pushed"] == 3
            finally:
                await link.stop()

    run(scenario())


def test_a_broken_relay_stops_new_jobs_at_once_and_frees_its_workers_after_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_relay, "RECONNECT_GRACE_S", 0.3)

    async def scenario() -> None:
        async with serving_node() as (serving, service, port):
            link = link_to(port, HoldingStreams([("w1#a", "pay", 0, 4)]))
            manager = serving.managers[1]
            await eventually(lambda: "w1#a" in manager.sinks, 5, "the resync")
            relay = service.relays[1]
            await link.stop()  # the holding node is gone
            await eventually(lambda: relay.closed, 5, "the relay noticed")
            assert manager.named("unsubscribe") == ["w1#a"]  # no new jobs at once ...
            assert manager.named("remove") == []  # ... but its jobs are not freed yet
            assert not manager.sinks["w1#a"].deliver({"key": 5})  # a push fails: freed by it
            await eventually(lambda: manager.named("remove") == ["w1#a"], 5, "freed after grace")
            assert service.stats["orphans_freed"] == 1

    run(scenario())


def test_a_node_that_reconnects_within_the_grace_keeps_its_workers_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_relay, "RECONNECT_GRACE_S", 1.0)

    async def scenario() -> None:
        async with serving_node() as (serving, service, port):
            holding = HoldingStreams([("w1#a", "pay", 0, 4)])
            first = link_to(port, holding)
            manager = serving.managers[1]
            await eventually(lambda: len(manager.named("subscribe")) == 1, 5, "subscribed")
            old_relay = service.relays[1]
            queued = old_relay.push(1, "w1#a", {"key": 42})  # may still sit in the queue
            await first.stop()
            second = link_to(port, holding)
            try:
                await eventually(lambda: len(manager.named("subscribe")) == 2, 5, "resubscribed")
                await asyncio.sleep(1.3)  # past the grace
                assert manager.named("remove") == [], "a worker that came back was freed"
                assert service.owner["w1#a"] is service.relays[1] is not old_relay
                released = [keys for _, _, keys in serving.released]
                assert queued and (released in ([], [[42]]))
            finally:
                await second.stop()

    run(scenario())


def test_a_relay_without_the_cluster_secret_is_refused() -> None:
    async def scenario() -> None:
        async with serving_node() as (serving, service, port):
            link = link_to(port, HoldingStreams([("w1#a", "pay", 0, 4)]), secret="wrong")
            try:
                await asyncio.sleep(1.0)
                assert not link.connected and link.stats["sessions"] >= 1
                assert all(not m.calls for m in serving.managers.values())
                assert service.relays == {}
            finally:
                await link.stop()

    run(scenario())


def test_jobs_still_queued_when_a_relay_closes_are_freed_at_once() -> None:
    async def scenario() -> None:
        serving = ServingStreams()
        service = job_relay.JobRelayService(serving, SECRET)  # type: ignore[arg-type]
        relay = job_relay._IncomingRelay(service, serving, from_node=3)
        subscribe = job_relay.pb.RelayUp(
            subscribe=job_relay.pb.RelaySubscribe(worker_id="w#1", job_type="pay", jobs_max=4)
        )
        relay.handle(subscribe)
        assert relay.push(1, "w#1", {"key": 11}) and relay.push(2, "w#1", {"key": 21})
        assert relay.push(1, "w#1", {"key": 12})
        relay.close()
        assert sorted(serving.released) == [(1, "w#1", [11, 12]), (2, "w#1", [21])]
        assert await relay.next_message() is None  # the writer ends
        assert not relay.push(1, "w#1", {"key": 13})

    run(scenario())


def test_opened_workers_make_their_client_ids_known_until_removed_or_the_relay_ends() -> None:
    async def scenario() -> None:
        async with serving_node() as (serving, service, port):
            holding = HoldingStreams([], opened=[("alpha#1", 1_000)])
            link = link_to(port, holding)
            try:
                await eventually(lambda: serving.claims, 5, "the resync's open")
                assert serving.claims == [("alpha", 1_000, 1)]
                assert serving.holder_of("alpha") == 1 and serving.holder_of("beta") is None
                link.open_worker("be#ta#2", 2_000)  # a client id may hold "#"
                await eventually(lambda: service.holder_of("be#ta") == 1, 5, "an open")
                link.remove_worker("alpha#1")
                await eventually(lambda: service.holder_of("alpha") is None, 5, "the remove")
            finally:
                await link.stop()
            await eventually(lambda: service.holder_of("be#ta") is None, 5, "the relay's end")

    run(scenario())
