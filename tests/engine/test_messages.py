"""Messages across partitions: catch events, receive tasks, boundaries, start events, buffering,
and the event-based gateway (first trigger wins, once)."""

from __future__ import annotations

from support.bpmn import (
    boundary,
    chain,
    definitions,
    end,
    flow,
    gateway,
    message,
    message_catch,
    message_def,
    process,
    service,
    start,
    timer_catch,
)

from zennode.engine.relay import message_partition, pending_relays

from .helpers import Partitions

S = 1000


def doc(body: str, *messages: str) -> str:
    return definitions(process(body), errors="".join(messages))


CATCH = doc(
    start() + message_catch("wait", "M") + end() + chain("start", "wait", "end"),
    message("M", "paid", "=orderId"),
)


def start_on(ps: Partitions, partition: int, xml: str, variables: dict) -> int:
    ps.deploy(xml)
    created = ps.ok(partition, "create_instance", bpmnProcessId="p", variables=variables)
    return created["processInstanceKey"]


def test_message_partition_is_a_stable_hash() -> None:
    assert message_partition("order-1", 3) == message_partition("order-1", 3)
    assert {message_partition(f"k{i}", 3) for i in range(50)} == {1, 2, 3}


def test_catch_event_correlates_across_partitions_and_merges_variables() -> None:
    ps = Partitions(3)
    key = None
    for order in ("a", "b", "c", "d"):  # some keys live on other partitions than the instance
        key = start_on(ps, 1, CATCH, {"orderId": order})
        assert ps[1].waiting_at(key) == ["wait"]
        result = ps.publish("paid", order, variables={"amount": 5})
        assert result["correlated"] == 1
        view = ps[1].instance(key)
        assert view["state"] == "completed" and view["variables"]["amount"] == 5
    for part in ps.parts.values():  # every relay was acknowledged, no subscription is left
        with part.store.read() as txn:
            assert pending_relays(txn) == []
        assert not part.store.tables["subscriptions"]


def test_message_with_another_key_does_not_correlate() -> None:
    ps = Partitions(2)
    key = start_on(ps, 2, CATCH, {"orderId": "x"})
    assert ps.publish("paid", "y")["correlated"] == 0
    assert ps[2].waiting_at(key) == ["wait"]


def test_buffered_message_correlates_with_a_later_subscription_until_it_expires() -> None:
    ps = Partitions(3)
    ps.deploy(CATCH)
    ps.publish("paid", "early", timeToLive=60 * S, variables={"v": 1})
    key = ps.ok(2, "create_instance", bpmnProcessId="p", variables={"orderId": "early"})[
        "processInstanceKey"
    ]
    assert ps[2].instance(key)["state"] == "completed"
    assert ps[2].instance(key)["variables"]["v"] == 1
    # the same buffered message does not wake the same... but wakes another instance once
    other = ps.ok(3, "create_instance", bpmnProcessId="p", variables={"orderId": "early"})
    assert ps[3].instance(other["processInstanceKey"])["state"] == "completed"
    # after its time to live the driver removes it
    ps.tick(ps[1].now_ms + 120 * S)
    late = ps.ok(1, "create_instance", bpmnProcessId="p", variables={"orderId": "early"})
    assert ps[1].instance(late["processInstanceKey"])["state"] == "active"


def test_duplicate_message_id_is_refused_while_alive() -> None:
    ps = Partitions(1)
    ps.publish("m", "k", timeToLive=10 * S, messageId="id-1")
    again = ps.apply(1, "publish_message", messageName="m", correlationKey="k", messageId="id-1")
    assert type(again.error).__name__ == "AlreadyExists"
    ps.tick(ps[1].now_ms + 20 * S)
    assert ps.apply(1, "publish_message", messageName="m", correlationKey="k", messageId="id-1").ok


def test_receive_task_and_interrupting_message_boundary() -> None:
    xml = doc(
        start()
        + '<bpmn:receiveTask id="recv" messageRef="M"/>'
        + service("task", "work")
        + boundary("cancelled", "task", message_def("C"))
        + end()
        + end("end2")
        + chain("start", "recv", "task", "end")
        + flow("f_c", "cancelled", "end2"),
        message("M", "go", "=id"),
        message("C", "cancel", "=id"),
    )
    ps = Partitions(3)
    key = start_on(ps, 1, xml, {"id": "r1"})
    ps.publish("go", "r1")
    job = ps[1].job(key, "task")
    ps.publish("cancel", "r1")
    view = ps[1].instance(key)
    assert view["state"] == "completed"
    refused = ps.apply(1, "complete_job", jobKey=job["key"], variables={})
    assert type(refused.error).__name__ == "InvalidState"


def test_non_interrupting_message_boundary_fires_for_every_message() -> None:
    xml = doc(
        start()
        + service("task", "work")
        + boundary("note", "task", message_def("N"), interrupting=False)
        + service("notify", "notify")
        + end()
        + end("end2")
        + chain("start", "task", "end")
        + flow("f_n", "note", "notify")
        + flow("f_nn", "notify", "end2"),
        message("N", "note", "=id"),
    )
    ps = Partitions(2)
    key = start_on(ps, 1, xml, {"id": "n1"})
    for _ in range(3):
        ps.publish("note", "n1")
    assert sorted(j["elementId"] for j in ps[1].active_jobs(key)) == ["notify"] * 3 + ["task"]
    ps.ok(1, "complete_job", jobKey=ps[1].job(key, "task")["key"], variables={})
    # the boundary's subscription is closed on the message partition too
    assert ps.publish("note", "n1")["correlated"] == 0


def test_message_start_event_creates_an_instance_on_the_message_partition() -> None:
    xml = doc(
        f'<bpmn:startEvent id="start">{message_def("S")}</bpmn:startEvent>'
        + service("t", "work")
        + end()
        + chain("start", "t", "end"),
        message("S", "order placed", None),
    )
    ps = Partitions(3)
    ps.deploy(xml)
    result = ps.publish("order placed", "o-9", variables={"x": 1})
    [instance_key] = result["startedInstances"]
    owner = message_partition("o-9", 3)
    assert ps[owner].instance(instance_key)["variables"] == {"x": 1}


EVENT_GATEWAY = doc(
    start()
    + gateway("g", "eventBased")
    + message_catch("paid", "M")
    + timer_catch("timeout", "duration", "PT30S")
    + service("ship", "ship")
    + service("remind", "remind")
    + end()
    + end("end2")
    + chain("start", "g")
    + flow("f_m", "g", "paid")
    + flow("f_t", "g", "timeout")
    + chain("paid", "ship", "end", prefix="a")
    + chain("timeout", "remind", "end2", prefix="b"),
    message("M", "paid", "=orderId"),
)


def test_event_gateway_message_first_wins_and_the_timer_is_closed() -> None:
    ps = Partitions(3)
    key = start_on(ps, 1, EVENT_GATEWAY, {"orderId": "g1"})
    assert ps[1].waiting_at(key) == ["g"]
    ps.publish("paid", "g1")
    assert ps[1].waiting_at(key) == ["ship"]
    ps.tick(ps[1].now_ms + 60 * S)
    assert ps[1].waiting_at(key) == ["ship"]
    assert ps.publish("paid", "g1")["correlated"] == 0


def test_event_gateway_timer_first_wins_and_the_subscription_is_closed() -> None:
    ps = Partitions(3)
    key = start_on(ps, 1, EVENT_GATEWAY, {"orderId": "g2"})
    ps.tick(ps[1].now_ms + 30 * S)
    assert ps[1].waiting_at(key) == ["remind"]
    assert ps.publish("paid", "g2")["correlated"] == 0
    assert ps[1].waiting_at(key) == ["remind"]


def test_late_delivery_to_a_closed_subscription_is_refused_without_change() -> None:
    ps = Partitions(1)
    key = start_on(ps, 1, CATCH, {"orderId": "z"})
    before = ps[1].snapshot()
    result = ps.ok(
        1, "correlate_message", subKey=123456, processInstanceKey=key, messageKey=99, variables={}
    )
    assert result["accepted"] is False
    assert ps[1].waiting_at(key) == ["wait"]
    after = ps[1].snapshot()
    assert {t: v for t, v in after.items() if t != "meta"} == {
        t: v for t, v in before.items() if t != "meta"
    }


def test_a_new_leader_finds_every_unacknowledged_relay() -> None:
    ps = Partitions(2)
    ps.deploy(CATCH)
    # apply without draining, as if the leader died before relaying
    created = ps[1].ok("create_instance", bpmnProcessId="p", variables={"orderId": "q"})
    with ps[1].store.read() as txn:
        [relay] = pending_relays(txn)
    assert relay["command"]["type"] == "open_message_subscription"
    ps.drain(1, [{"event": "relay", "relay": relay}])
    ps.drain(1, [{"event": "relay", "relay": relay}])  # re-sent twice: idempotent
    assert ps.publish("paid", "q")["correlated"] == 1
    assert ps[1].instance(created["processInstanceKey"])["state"] == "completed"


def test_multi_instance_receive_task_subscribes_with_each_item_as_key() -> None:
    loop = (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>"
        '<zeebe:loopCharacteristics inputCollection="=orders" inputElement="order" '
        'outputCollection="got" outputElement="=amount"/>'
        "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>"
    )
    xml = doc(
        start()
        + f'<bpmn:receiveTask id="recv" messageRef="M">{loop}</bpmn:receiveTask>'
        + end()
        + chain("start", "recv", "end"),
        message("M", "paid", "=order"),
    )
    ps = Partitions(3)
    key = start_on(ps, 1, xml, {"orders": ["a", "b", "c"]})
    for amount, order in enumerate(("c", "a", "b"), start=1):
        assert ps.publish("paid", order, variables={"amount": amount})["correlated"] == 1
    view = ps[1].instance(key)
    assert view["state"] == "completed" and view["variables"]["got"] == [2, 3, 1]


def test_message_start_runs_one_instance_per_correlation_key_at_a_time() -> None:
    xml = doc(
        f'<bpmn:startEvent id="start">{message_def("S")}</bpmn:startEvent>'
        + service("t", "work")
        + end()
        + chain("start", "t", "end"),
        message("S", "order placed", None),
    )
    ps = Partitions(2)
    ps.deploy(xml)
    [first] = ps.publish("order placed", "o-1")["startedInstances"]
    assert ps.publish("order placed", "o-1")["startedInstances"] == []  # o-1 still runs
    assert len(ps.publish("order placed", "o-2")["startedInstances"]) == 1
    owner = message_partition("o-1", 2)
    ps.ok(owner, "complete_job", jobKey=ps[owner].job(first, "t")["key"], variables={})
    assert len(ps.publish("order placed", "o-1")["startedInstances"]) == 1
    assert ps.publish("order placed", "")["startedInstances"] != []
    assert ps.publish("order placed", "")["startedInstances"] != []  # no key: no limit


def test_interrupting_message_event_sub_process_ends_the_main_flow() -> None:
    handler = (
        '<bpmn:subProcess id="esp" triggeredByEvent="true">'
        f'<bpmn:startEvent id="es">{message_def("C")}</bpmn:startEvent>'
        + service("undo", "undo")
        + end("ee")
        + chain("es", "undo", "ee", prefix="x")
        + "</bpmn:subProcess>"
    )
    xml = doc(
        start() + service("t", "work") + end() + chain("start", "t", "end") + handler,
        message("C", "cancel", "=id"),
    )
    ps = Partitions(3)
    key = start_on(ps, 2, xml, {"id": "c1"})
    job = ps[2].job(key, "t")
    ps.publish("cancel", "c1", variables={"reason": "customer"})
    assert ps[2].waiting_at(key) == ["esp", "undo"]
    assert ps[2].instance(key)["variables"]["reason"] == "customer"
    assert type(ps.apply(2, "complete_job", jobKey=job["key"]).error).__name__ == "InvalidState"
    ps.ok(2, "complete_job", jobKey=ps[2].job(key, "undo")["key"], variables={})
    assert ps[2].instance(key)["state"] == "completed"
    assert ps.publish("cancel", "c1")["correlated"] == 0  # its subscription was closed
