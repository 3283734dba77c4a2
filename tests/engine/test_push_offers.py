"""Push offers in the engine (zennode.engine.offers): a job created in a batch that carries an
offer for its type is activated for that worker by the same command, exactly as
`activate_jobs` would have done in a second commit; deterministic, no network."""

from __future__ import annotations

from typing import Any

import pytest
from support.bpmn import bpmn, chain, end, service, start

from zennode.engine.offers import BatchOffers, Offer

from .helpers import Harness

ONE_TASK = bpmn(start() + service("t", "work") + end() + chain("start", "t", "end"))


def create(h: Harness, definition: int, offers: BatchOffers | None, now_ms: int) -> int:
    with h.store.write() as txn:
        outcome = h.engine.apply(
            txn,
            {
                "type": "create_instance",
                "now_ms": now_ms,
                "processDefinitionKey": definition,
                "variables": {"x": 1},
            },
            offers,
        )
    h.events.extend(outcome.events)
    return int(outcome.unwrap()["processInstanceKey"])


def activated_events(h: Harness) -> list[dict[str, Any]]:
    return [e for e in h.events if e["event"] == "job_activated"]


def test_an_offered_job_is_stored_and_announced_as_activate_jobs_would() -> None:
    offered, pulled = Harness(), Harness()
    definition = offered.deploy(ONE_TASK)["processDefinitionKey"]
    assert pulled.deploy(ONE_TASK)["processDefinitionKey"] == definition
    offers = BatchOffers([Offer(7, "work", "w1", 30_000)])
    key = create(offered, definition, offers, now_ms=5_000)
    create(pulled, definition, None, now_ms=5_000)
    pulled.ok(
        "activate_jobs", jobType="work", worker="w1", timeoutMs=30_000, maxJobs=1, now_ms=5_000
    )

    job = offered.job(key, "t")
    assert job["state"] == "activated" and job["worker"] == "w1"
    assert job["deadline"] == 35_000
    assert offered.snapshot() == pulled.snapshot()  # the same state, one command fewer
    assert activated_events(offered) == activated_events(pulled)
    ((offer, pushed),) = offers.used
    assert offer.slot == 7 and pushed == job  # what the leader pushes is the stored job
    assert offers.unused() == []


def test_offers_go_in_order_to_the_jobs_of_their_type_and_no_further() -> None:
    h = Harness()
    definition = h.deploy(ONE_TASK)["processDefinitionKey"]
    other = Offer(3, "other", "w9", 1_000)
    offers = BatchOffers([Offer(1, "work", "w1", 30_000), other, Offer(2, "work", "w2", 20_000)])
    keys = [create(h, definition, offers, now_ms=1_000 + i) for i in range(3)]
    jobs = [h.job(key, "t") for key in keys]
    assert [j.get("worker") for j in jobs] == ["w1", "w2", None]
    assert [j["state"] for j in jobs] == ["activated", "activated", "active"]
    assert jobs[1]["deadline"] == 1_001 + 20_000  # the offer's own lock
    assert [o.slot for o, _job in offers.used] == [1, 2]
    assert offers.unused() == [other]  # no job of that type: the leader frees its slot


def test_two_replicas_applying_the_same_offers_end_in_the_same_state() -> None:
    replicas = [Harness(), Harness()]
    for h in replicas:
        definition = h.deploy(ONE_TASK)["processDefinitionKey"]
        offers = BatchOffers([Offer(1, "work", "w1", 30_000), Offer(2, "work", "w2", 30_000)])
        for i in range(3):
            create(h, definition, offers, now_ms=2_000 + i)
    assert replicas[0].snapshot() == replicas[1].snapshot()


def test_a_refused_command_gives_back_the_offers_it_took() -> None:
    first, second = Offer(1, "work", "w1", 10), Offer(2, "work", "w2", 10)
    offers = BatchOffers([first, second])
    offers.begin()
    assert offers.take("work") == first
    offers.activated(first, {"key": 1})
    # The command was refused (no commit): the next command starts where the last committed.
    offers.begin()
    assert offers.take("work") == first
    offers.activated(first, {"key": 2})
    offers.commit()
    offers.begin()
    assert offers.take("work") == second
    assert [(o, job["key"]) for o, job in offers.used] == [(first, 2)]


def test_a_refused_create_in_a_batch_does_not_use_an_offer() -> None:
    h = Harness()
    definition = h.deploy(ONE_TASK)["processDefinitionKey"]
    offers = BatchOffers([Offer(1, "work", "w1", 30_000)])
    with h.store.write() as txn:
        refused = h.engine.apply(
            txn, {"type": "create_instance", "now_ms": 1, "processDefinitionKey": 999}, offers
        )
    assert refused.error is not None
    key = create(h, definition, offers, now_ms=2)
    assert h.job(key, "t")["worker"] == "w1"
    assert [o.slot for o, _job in offers.used] == [1]


def test_a_well_formed_offer_survives_the_batch_wire_form() -> None:
    offer = Offer(1, "work", "w1", 5)
    assert Offer.from_wire(offer.to_wire()) == offer


@pytest.mark.parametrize("raw", [(1, "work", "w1", 0), ("1", "work", "w1", 5), (1, "w", None, 5)])
def test_a_malformed_offer_is_refused_when_read_from_the_batch(raw: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="malformed push offer"):
        Offer.from_wire(raw)
