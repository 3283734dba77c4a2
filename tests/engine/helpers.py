"""Engine test harnesses: one engine on a MemoryStore (`Harness`), or several partitions with
the relays applied in-line (`Partitions`). BPMN builders are in `support.bpmn`."""

from __future__ import annotations

from typing import Any

from zennode.engine import Engine, queries, records, search
from zennode.engine.outcome import Outcome
from zennode.engine.storage import MemoryStore


class Harness:
    """One engine on one MemoryStore; `now_ms` advances by 1 per command unless given.

    Like a new partition, the store starts without the search format marker; its first command
    writes it (`search.backfill.mark_if_new`)."""

    def __init__(self, partition_id: int = 1, **engine_options: Any) -> None:
        self.store = MemoryStore()
        self.engine = Engine(partition_id, **engine_options)
        self.now_ms = 1_000
        self.events: list[dict[str, Any]] = []

    def apply(self, command_type: str, **fields: Any) -> Outcome:
        now = fields.pop("now_ms", None)
        if now is None:
            self.now_ms += 1
            now = self.now_ms
        with self.store.write() as txn:
            outcome = self.engine.apply(txn, {"type": command_type, "now_ms": now, **fields})
        self.events.extend(outcome.events)
        return outcome

    def ok(self, command_type: str, **fields: Any) -> dict[str, Any]:
        return self.apply(command_type, **fields).unwrap()

    def deploy(self, xml: str) -> dict[str, Any]:
        return self.ok("deploy", xml=xml)

    def start(self, xml: str, variables: dict[str, Any] | None = None) -> int:
        result = self.deploy(xml)
        created = self.ok(
            "create_instance",
            processDefinitionKey=result["processDefinitionKey"],
            variables=variables or {},
        )
        return created["processInstanceKey"]

    def instance(self, key: int) -> dict[str, Any]:
        with self.store.read() as txn:
            return queries.get_instance(txn, key)

    def jobs(self, instance_key: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        with self.store.read() as txn:
            items, _ = queries.list_jobs(txn, instance_key=instance_key, limit=1000, **filters)
        return items

    def active_jobs(self, instance_key: int) -> list[dict[str, Any]]:
        return [j for j in self.jobs(instance_key) if j["state"] in ("active", "activated")]

    def job(self, instance_key: int, element_id: str) -> dict[str, Any]:
        found = [j for j in self.active_jobs(instance_key) if j["elementId"] == element_id]
        assert len(found) == 1, f"expected one open job at {element_id}, got {found}"
        return found[0]

    def complete(self, instance_key: int, element_id: str, **variables: Any) -> dict[str, Any]:
        job = self.job(instance_key, element_id)
        return self.ok("complete_job", jobKey=job["key"], variables=variables)

    def incidents(self, instance_key: int) -> list[dict[str, Any]]:
        with self.store.read() as txn:
            items, _ = queries.list_incidents(txn, instance_key=instance_key, limit=1000)
        return items

    def open_incidents(self, instance_key: int) -> list[dict[str, Any]]:
        return [i for i in self.incidents(instance_key) if i["state"] == "active"]

    def waiting_at(self, instance_key: int) -> list[str]:
        return sorted(e["elementId"] for e in self.instance(instance_key)["activeElementInstances"])

    def snapshot(self) -> dict[str, dict[bytes, bytes]]:
        return {name: dict(table) for name, table in self.store.tables.items()}


class Partitions:
    """Several partitions, each a Harness, with the leader relays done in-line: every `relay`
    event is applied on its target partition and acknowledged back, until none is left."""

    def __init__(self, count: int = 3) -> None:
        self.parts = {p: Harness(partition_id=p) for p in range(1, count + 1)}
        self.relayed = 0

    def __getitem__(self, partition_id: int) -> Harness:
        return self.parts[partition_id]

    def apply(self, partition_id: int, command_type: str, **fields: Any) -> Outcome:
        outcome = self.parts[partition_id].apply(command_type, **fields)
        self.drain(partition_id, outcome.events)
        return outcome

    def ok(self, partition_id: int, command_type: str, **fields: Any) -> dict[str, Any]:
        return self.apply(partition_id, command_type, **fields).unwrap()

    def drain(self, source: int, events: list[dict[str, Any]]) -> None:
        from zennode.engine.relay import RELAY_EVENT, target_partitions

        queue = [(source, e["relay"]) for e in events if e["event"] == RELAY_EVENT]
        steps = 0
        while queue:
            steps += 1
            assert steps < 10_000, "relays do not settle"
            origin, relay = queue.pop(0)
            for target in target_partitions(relay, len(self.parts), origin):
                out = self.parts[target].apply(
                    relay["command"]["type"],
                    **{k: v for k, v in relay["command"].items() if k != "type"},
                )
                assert out.ok, (relay, out.error)
                self.relayed += 1
                queue.extend((target, e["relay"]) for e in out.events if e["event"] == RELAY_EVENT)
            if relay["ack"]:
                ack = self.parts[origin].apply(
                    relay["ack"]["type"], **{k: v for k, v in relay["ack"].items() if k != "type"}
                )
                assert ack.ok, ack.error

    def deploy(self, xml: str) -> dict[str, Any]:
        first = self.ok(1, "deploy", xml=xml)
        assigned = {
            p["bpmnProcessId"]: {"key": p["processDefinitionKey"], "version": p["version"]}
            for p in first["processes"]
        }
        for pid in list(self.parts)[1:]:
            self.ok(pid, "deploy", xml=xml, assigned=assigned)
        return first

    def publish(self, name: str, key: str, **fields: Any) -> dict[str, Any]:
        from zennode.engine.relay import message_partition

        return self.ok(
            message_partition(key, len(self.parts)),
            "publish_message",
            messageName=name,
            correlationKey=key,
            **fields,
        )

    def tick(self, now_ms: int) -> None:
        for pid, part in self.parts.items():
            self.apply(pid, "trigger_timers", now_ms=now_ms)
            part.now_ms = max(part.now_ms, now_ms)


def check_search(tables: dict[str, dict[bytes, bytes]], instances: dict[int, Any]) -> None:
    """Search rows are exactly what the instances' summaries imply, and each summary tells the
    instance's state and tokens as its record does now (engine/search/)."""
    summaries = {}
    for key, instance in instances.items():
        raw = tables["index"][search.SUMMARY + records.u64(key)]
        summary = summaries[key] = records.loads(raw)
        assert summary["s"] == search.display_state(instance)
        tokens: dict[str, int] = {}
        for record in instance["elements"].values():
            if record["elementType"] not in search.NOT_TOKENS:
                tokens[record["elementId"]] = tokens.get(record["elementId"], 0) + 1
        assert summary["a"] == tokens
    held = {k: v for k, v in tables["index"].items() if k.startswith(search.SEARCH_PREFIXES)}
    assert held == search.implied_rows(summaries)
