"""The service façade: one method per operation, for every API of the node.

REST (`api/rest/*`), the Zeebe gateway (`api/zeebe/*`) and the job stream call these methods;
they never build a command or read the state themselves. A method checks its input, builds
the command record (`zennode.engine.commands`) or names the read (`cluster.reads`), sends it
to the partition that owns the key through the cluster client, and returns the JSON-ready
result. Every method is `async` and raises `ZennodeError`s, which the API layers map to
statuses through `errors.http_status()` / `errors.grpc_code_name()`.

Adding an operation: a method here (grouped by resource below); a new command also needs its
record and handler in `zennode/engine/commands/`, a new read a query in `engine/queries.py`
and a line in `cluster/reads.py`. Then the REST route (`api/rest/<resource>.py`) or RPC calls
the method.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable
from typing import Any

from zennode.cluster.client import ClusterClient, Consistency
from zennode.cluster.idempotency import KEY_BYTES_MAX, Idempotency, request_digest
from zennode.config import Limits
from zennode.engine import search
from zennode.engine.commands import (
    AssignJob,
    BroadcastSignal,
    CancelInstance,
    Command,
    CompleteJob,
    CreateInstance,
    DeleteVariable,
    Deploy,
    DeployDecisions,
    DeployResources,
    FailJob,
    ModifyInstance,
    PublishMessage,
    ResolveIncident,
    SetVariables,
    ThrowError,
    UpdateJobRetries,
    UpdateJobTimeout,
    to_wire,
)
from zennode.engine.commands.deploy_decisions import parse_deployable
from zennode.engine.commands.wire import RESOURCES_PER_DEPLOYMENT_MAX
from zennode.engine.engine import Engine
from zennode.engine.queries import COUNT_MAX as COUNT_MAX  # the API describes the bound
from zennode.engine.relay import message_partition
from zennode.engine.retention import parse_ttl
from zennode.errors import BadRequest, NotFound, TooLarge, Unavailable

DEPLOYMENT_PARTITION = 1  # assigns definition keys and versions; answers definition reads
BPMN_SUFFIXES = (".bpmn", ".xml")  # resource names deploy_resources deploys as BPMN
DMN_SUFFIXES = (".dmn",)  # ... and as DMN decisions
# How long a deploy's answer waits for its copies to reach the other partitions (they keep
# being relayed after): normally a few Raft rounds; bounded so a partition without a leader
# does not hold the answer of a deployment that is stored.
DISTRIBUTION_WAIT_S = 5.0
DISTRIBUTION_POLL_MAX_S = 0.02  # between asks whether the copies are in (each is a read)
# Room a deployment's command (and its copy: keys, versions, resource names) needs beyond its
# documents' bytes within one command (`limits.request_bytes_max`).
DEPLOYMENT_MARGIN_BYTES = 64 * 1024


def _clock_ms() -> int:
    """Wall-clock milliseconds: the clock a Raft batch takes its time from (the leader's), so
    what is checked here at this time matches what the command sees moments later."""
    return time.time_ns() // 1_000_000


def check_variables(variables: Any, limit_bytes: int, what: str = "variables") -> dict[str, Any]:
    """A JSON object of at most `limit_bytes` (compact JSON), or BadRequest / TooLarge."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise BadRequest(f"{what} must be a JSON object")
    try:
        size = len(json.dumps(variables, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{what} are not JSON: {exc}") from exc
    if size > limit_bytes:
        raise TooLarge(f"{what} are {size} bytes of JSON, the limit is {limit_bytes}")
    return variables


def check_idempotency_key(key: str) -> None:
    if not key or len(key.encode()) > KEY_BYTES_MAX or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1 to {KEY_BYTES_MAX} printable characters")


def _summed(per_partition: list[list[dict[str, Any]]], by: str) -> list[dict[str, Any]]:
    """Statistics rows of every partition added up per `by` (every other field is a count),
    in `by` order."""
    total: dict[Any, dict[str, Any]] = {}
    for rows in per_partition:
        for row in rows:
            into = total.setdefault(row[by], {by: row[by]})
            for name, value in row.items():
                if name != by:
                    into[name] = into.get(name, 0) + value
    return [total[k] for k in sorted(total)]


def key_partition(key: str, partition_ids: list[int]) -> int:
    """The partition that keeps a new instance's Idempotency-Key: a repeat of the request
    must reach the same partition (round robin would not)."""
    return partition_ids[zlib.crc32(key.encode()) % len(partition_ids)]


def deployment_key_of(results: list[dict[str, Any]]) -> int | None:
    """The deployment key of one deploy call from its per-resource results: `_deploy_call`
    makes every resource of a call share one, so the first's is the call's (None only when
    every resource is unchanged since a deployment made before keys were recorded)."""
    key: int | None = results[0].get("deploymentKey")
    return key


class Service:
    """The operations of one node (see the module docstring).

    Every method that changes state takes `idempotency_key` (the REST `Idempotency-Key`)."""

    def __init__(
        self,
        cluster: ClusterClient,
        limits: Limits,
        handler_stats: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.cluster = cluster
        self.limits = limits
        self._handler_stats = handler_stats or dict

    def check_variables(self, variables: Any, what: str = "variables") -> dict[str, Any]:
        """A JSON object within `limits.variables_bytes_max`, or BadRequest / TooLarge."""
        return check_variables(variables, self.limits.variables_bytes_max, what)

    async def _run(
        self, partition_id: int, command: Command, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Submit and unwrap. With an `Idempotency-Key` the partition applies the command once
        for that key and answers a repeat with the first outcome; the same key with another
        request is a 422 (zennode/cluster/idempotency.py)."""
        if idempotency_key is None:
            return (await self.cluster.submit(partition_id, command)).unwrap()
        check_idempotency_key(idempotency_key)
        # The job stream's `worker` names the stream, not the request: a result re-sent on a
        # new stream after the old one broke is the same request.
        wire = {k: v for k, v in to_wire(command).items() if k != "worker"}
        key = Idempotency(idempotency_key, request_digest(str(wire["type"]), **wire))
        return (await self.cluster.submit(partition_id, command, idempotency=key)).unwrap()

    async def _per_partition_page(
        self,
        partition_ids: list[int],
        query: str,
        args: dict[str, Any],
        page: int,
        size: int,
        consistency: Consistency = "linearizable",
    ) -> dict[str, Any]:
        """Run a paged query on each partition's leader: `{partitions: [{partition, items}]}`."""
        read = self.cluster.read
        results = await asyncio.gather(
            *(read(p, query, consistency=consistency, **args) for p in partition_ids)
        )
        partitions = [
            {"partition": pid, "items": items}
            for pid, (items, _total) in zip(partition_ids, results, strict=True)
        ]
        totals = [total for _, total in results]
        return {
            "partitions": partitions,
            "page": page,
            "size": size,
            "count": sum(len(items) for items, _ in results),
            # None: a partition could not count without a scan (instance search, see
            # engine/search/)
            "totalCount": None if None in totals else sum(totals),
        }

    async def _instance_page(
        self,
        key: int,
        query: str,
        page: int,
        size: int,
        consistency: Consistency,
        **args: Any,
    ) -> dict[str, Any]:
        """A paged read of one instance's rows on its partition: `{items, page, size, count,
        totalCount}`; a query that answers more after the total (history: `truncated`) has
        it under `more`."""
        pid = self.cluster.partition_of(key, "process instance")
        offset = (page - 1) * size
        items, total, *more = await self.cluster.read(
            pid, query, consistency=consistency, key=key, offset=offset, limit=size, **args
        )
        result = {"items": items, "page": page, "size": size, "count": len(items)}
        result["totalCount"] = total
        if more:
            result["more"] = more
        return result

    def _instance_partitions(self, process_instance_key: int | None) -> list[int]:
        if process_instance_key is None:
            return self.cluster.partition_ids
        return [self.cluster.partition_of(process_instance_key, "process instance")]

    # ------------------------------------------------------------ definitions

    def _resource_text(self, data: bytes, what: str) -> str:
        limit = self.limits.bpmn_bytes_max
        if len(data) > limit:
            raise TooLarge(f"{what} resource is {len(data)} bytes, the limit is {limit}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the {what} resource is not UTF-8 ({exc.reason})") from exc

    async def deploy(
        self, xml: bytes, resource_name: str = "", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Deploy one BPMN document: a deployment of its own (see `_deploy_call`)."""
        text = self._resource_text(xml, "BPMN")
        # a bad document never reaches Raft
        Engine(DEPLOYMENT_PARTITION).validate_deploy(xml, _clock_ms())
        resource = Deploy(xml=text, resource_name=resource_name)
        [result] = await self._deploy_call([resource], idempotency_key)
        return result

    async def deploy_decisions(
        self, xml: bytes, resource_name: str = "", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Deploy one DMN document: a deployment of its own (see `_deploy_call`)."""
        text = self._resource_text(xml, "DMN")
        parse_deployable(xml)  # a bad document never reaches Raft
        resource = DeployDecisions(xml=text, resource_name=resource_name)
        [result] = await self._deploy_call([resource], idempotency_key)
        return result

    async def deploy_resources(self, resources: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Deploy several named resources as one deployment: all are checked first (a bad one
        deploys nothing), then the DMN documents, then the BPMN documents go out as one
        `_deploy_call` (one command); the `deploy` / `deploy_decisions` result of each, in the
        order given."""
        if not resources:
            raise BadRequest("the deployment has no resources")
        if len(resources) > RESOURCES_PER_DEPLOYMENT_MAX:
            raise BadRequest(
                f"a deployment has at most {RESOURCES_PER_DEPLOYMENT_MAX} resources, "
                f"got {len(resources)}"
            )
        checker, now_ms = Engine(DEPLOYMENT_PARTITION), _clock_ms()
        commands: dict[int, Deploy | DeployDecisions] = {}
        for index, (name, content) in enumerate(resources):
            lower = name.lower()
            if not lower.endswith(BPMN_SUFFIXES + DMN_SUFFIXES):
                raise BadRequest(
                    f"resource '{name}': zennode deploys BPMN (.bpmn, .xml) and DMN (.dmn); "
                    "forms are not supported"
                )
            try:
                if lower.endswith(DMN_SUFFIXES):
                    text = self._resource_text(content, "DMN")
                    parse_deployable(content)
                    commands[index] = DeployDecisions(xml=text, resource_name=name)
                else:
                    text = self._resource_text(content, "BPMN")
                    checker.validate_deploy(content, now_ms)
                    commands[index] = Deploy(xml=text, resource_name=name)
            except (BadRequest, TooLarge) as exc:
                raise type(exc)(f"resource '{name}': {exc.message}") from exc
        order = sorted(commands, key=lambda i: not isinstance(commands[i], DeployDecisions))
        results = await self._deploy_call([commands[i] for i in order], None)
        by_index = dict(zip(order, results, strict=True))
        return [by_index[i] for i in range(len(resources))]

    async def _deploy_call(
        self, resources: list[Deploy | DeployDecisions], idempotency_key: str | None
    ) -> list[dict[str, Any]]:
        """One deployment (Zeebe's: the resources of one deploy call) as one replicated
        command on the deployment partition, stored all or nothing: keys, versions, the
        deployment key and the `forceNew` rule are decided in one apply
        (engine/commands/deploy_resources.py). The same apply writes the copy for the other
        partitions as a pending relay, which that partition's leader delivers until every
        partition applied it (drivers/partition_relay.py), so a copy is never lost.

        The answer comes once the deployment partition has stored it and, normally, once the
        copies are in too (`_await_distribution`), so an instance created right after the
        answer finds its definition on any partition. Each resource's result, in order."""
        size = sum(len(r.xml.encode()) for r in resources)
        fits = self.limits.request_bytes_max - DEPLOYMENT_MARGIN_BYTES
        if size > fits:
            # checked here, not by the partition: the copy (the same resources plus their keys)
            # must fit in one command too, or it could never be relayed
            raise TooLarge(f"the deployment's resources are {size} bytes, at most {fits} fit")
        command = DeployResources(tuple(resources))
        result = await self._run(DEPLOYMENT_PARTITION, command, idempotency_key)
        # a duplicate too: it sent the copy again (its first call may have timed out); with one
        # partition too, so the relay's ack is not left running beside the caller's next commands
        if result["deploymentKey"] is not None:
            await self._await_distribution(result["deploymentKey"])
        return list(result["resources"])

    async def _await_distribution(self, deployment_key: int) -> None:
        """Wait (at most `DISTRIBUTION_WAIT_S`) until the deployment partition saw every copy
        acknowledged. Past that, or when it cannot be asked, answer anyway: the deployment is
        stored and its copies keep being relayed (a create on a partition still without it is
        a retryable 503, see `create_instance`)."""
        deadline = time.monotonic() + DISTRIBUTION_WAIT_S
        pause_s = 0.002
        while time.monotonic() < deadline:
            try:
                if await self.cluster.read(
                    DEPLOYMENT_PARTITION, "deployment_distributed", deployment_key=deployment_key
                ):
                    return
            except Unavailable:
                return
            await asyncio.sleep(pause_s)
            pause_s = min(2 * pause_s, DISTRIBUTION_POLL_MAX_S)

    async def list_definitions(
        self,
        page: int = 1,
        size: int = 10,
        bpmn_process_id: str | None = None,
        consistency: Consistency = "linearizable",
    ) -> dict[str, Any]:
        """Definitions are on every partition; the deployment partition answers."""
        items, total = await self.cluster.read(
            DEPLOYMENT_PARTITION,
            "list_definitions",
            consistency=consistency,
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

    async def get_definition(
        self, key: int, consistency: Consistency = "linearizable"
    ) -> dict[str, Any]:
        self.cluster.partition_of(key, "process definition")
        definition: dict[str, Any] = await self.cluster.read(
            DEPLOYMENT_PARTITION, "get_definition", consistency=consistency, key=key
        )
        return definition

    # -------------------------------------------------------------- decisions

    async def list_decisions(
        self, page: int = 1, size: int = 10, decision_id: str | None = None
    ) -> dict[str, Any]:
        """Decisions are on every partition; the deployment partition answers."""
        items, total = await self.cluster.read(
            DEPLOYMENT_PARTITION,
            "list_decisions",
            decision_id=decision_id,
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

    async def get_decision(self, key: int) -> dict[str, Any]:
        self.cluster.partition_of(key, "decision definition")
        decision: dict[str, Any] = await self.cluster.read(
            DEPLOYMENT_PARTITION, "get_decision", key=key
        )
        return decision

    async def evaluate_decision(
        self,
        variables: Any,
        decision_id: str | None = None,
        decision_key: int | None = None,
    ) -> dict[str, Any]:
        """Evaluate the latest version of `decision_id` (or the decision `decision_key`) on
        the next partition (`next_partition`: one led here if any): every partition holds
        every decision. The result names each evaluated decision with its matched rules; a
        failing decision is answered with `failedDecisionId` and `failureMessage`."""
        checked = self.check_variables(variables)
        if decision_key is not None:
            self.cluster.partition_of(decision_key, "decision definition")
        elif not decision_id:
            raise BadRequest("give decisionId or decisionKey")
        result: dict[str, Any] = await self.cluster.read(
            self.cluster.next_partition(),
            "evaluate_decision",
            now_ms=_clock_ms(),
            variables=checked,
            decision_id=decision_id,
            decision_key=decision_key,
        )
        return result

    # -------------------------------------------------------------- instances

    async def create_instance(
        self,
        process_definition_key: int | None = None,
        bpmn_process_id: str | None = None,
        variables: dict[str, Any] | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
        history_ttl: str | None = None,
        business_key: str | None = None,
        start_instructions: list[dict[str, Any]] | None = None,
        local_first: bool = True,
    ) -> dict[str, Any]:
        """Start an instance on the next partition (`ClusterClient.next_partition`: round robin
        over those this node leads, so it is not forwarded; with `local_first=False` over all
        of them, as Zeebe's gateway does; with an idempotency key, the key's partition).
        `version` goes with a `bpmn_process_id` (None or -1: the latest). `history_ttl`
        (`30d`, `P30D`, `0`): how long the instance is kept once it ended; None: the
        configured `retention.history_ttl`. `business_key`: the caller's own searchable key
        (at most `search.BUSINESS_KEY_CHARS_MAX` characters). `start_instructions`
        ([{elementId}], Zeebe's start instructions): start at those elements instead of the
        none start event."""
        if (process_definition_key is None) == (bpmn_process_id is None):
            raise BadRequest("give exactly one of processDefinitionKey or bpmnProcessId")
        if process_definition_key is not None:
            self.cluster.partition_of(process_definition_key, "process definition")
        command = CreateInstance(
            process_definition_key=process_definition_key,
            bpmn_process_id=bpmn_process_id,
            version=version,
            variables=self.check_variables(variables),
            history_ttl_ms=None if history_ttl is None else parse_ttl(history_ttl),
            business_key=business_key,
            start_instructions=self._start_instructions(start_instructions),
        )
        if idempotency_key is None:
            return await self._create(self.cluster.next_partition(local_first), command)
        partition_id = key_partition(idempotency_key, self.cluster.partition_ids)
        return await self._create(partition_id, command, idempotency_key)

    async def _create(
        self, partition_id: int, command: CreateInstance, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Submit a create. A definition the deployment partition has but this partition not
        yet (its copy is still being relayed: a deploy answers after `DISTRIBUTION_WAIT_S` even
        when a partition lags) is a retryable 503, not a 404."""
        try:
            return await self._run(partition_id, command, idempotency_key)
        except NotFound as exc:
            if partition_id == DEPLOYMENT_PARTITION or not await self._deployed(command):
                raise
            raise Unavailable(
                f"{exc.message} on partition {partition_id} yet: its deployment is still being "
                "copied there; retry",
                partition_id=partition_id,
            ) from exc

    async def _deployed(self, command: CreateInstance) -> bool:
        """Whether the deployment partition has the definition `command` names."""
        try:
            if command.process_definition_key is not None:
                await self.cluster.read(
                    DEPLOYMENT_PARTITION, "get_definition", key=command.process_definition_key
                )
                return True
            _items, total = await self.cluster.read(
                DEPLOYMENT_PARTITION,
                "list_definitions",
                bpmn_process_id=command.bpmn_process_id,
                offset=0,
                limit=1,
            )
        except NotFound:
            return False
        # versions of one process are 1..total on the deployment partition
        wanted = command.version if command.version not in (None, -1) else 1
        return bool(total) and wanted <= total

    async def get_instance(
        self, key: int, consistency: Consistency = "linearizable"
    ) -> dict[str, Any]:
        pid = self.cluster.partition_of(key, "process instance")
        instance: dict[str, Any] = await self.cluster.read(
            pid, "get_instance", consistency=consistency, key=key
        )
        return instance

    async def list_instances(
        self,
        page: int = 1,
        size: int = 10,
        consistency: Consistency = "linearizable",
        sort_by: str = "key",
        sort_order: str = "asc",
        state: str | None = None,
        bpmn_process_id: str | None = None,
        process_definition_key: int | None = None,
        business_key: str | None = None,
        parent_process_instance_key: int | None = None,
        activity_id: str | None = None,
        created_from: int | None = None,
        created_to: int | None = None,
    ) -> dict[str, Any]:
        """Instances matching every given filter, paged per partition (like `list_jobs`), from
        the search indexes (engine/search/). Times in epoch ms (inclusive)."""
        filters = {
            "state": state,
            "bpmn_process_id": bpmn_process_id,
            "process_definition_key": process_definition_key,
            "business_key": business_key,
            "parent_key": parent_process_instance_key,
            "activity_id": activity_id,
            "created_from": created_from,
            "created_to": created_to,
        }
        args = {
            "offset": (page - 1) * size,
            "limit": size,
            "sort_by": sort_by,
            "sort_order": sort_order,
            **{name: value for name, value in filters.items() if value is not None},
        }
        search.Filters(**filters).check()  # a bad filter is a 400 before any partition is asked
        return await self._per_partition_page(
            self.cluster.partition_ids, "list_instances", args, page, size, consistency
        )

    async def definition_statistics(
        self, consistency: Consistency = "linearizable"
    ) -> list[dict[str, Any]]:
        """Instances per definition and state, summed over the partitions (each counts the
        instances it holds)."""
        results = await asyncio.gather(
            *(
                self.cluster.read(p, "definition_statistics", consistency=consistency)
                for p in self.cluster.partition_ids
            )
        )
        return _summed(results, "processDefinitionKey")

    async def element_statistics(
        self, key: int, consistency: Consistency = "linearizable"
    ) -> list[dict[str, Any]]:
        """Per element of definition `key`: active, completed, terminated, incidents, summed
        over the partitions (every partition holds every definition)."""
        self.cluster.partition_of(key, "process definition")
        results = await asyncio.gather(
            *(
                self.cluster.read(
                    p, "element_statistics", consistency=consistency, definition_key=key
                )
                for p in self.cluster.partition_ids
            )
        )
        return _summed(results, "elementId")

    async def get_instance_history(
        self, key: int, page: int = 1, size: int = 10, consistency: Consistency = "linearizable"
    ) -> dict[str, Any]:
        """Every element instance of an instance, in start order (`truncated`: the instance
        ran past the history bound and later ones are not listed)."""
        result = await self._instance_page(key, "instance_history", page, size, consistency)
        result["truncated"] = bool(result.pop("more")[0])
        return result

    async def list_instance_jobs(
        self, key: int, page: int = 1, size: int = 10, consistency: Consistency = "linearizable"
    ) -> dict[str, Any]:
        return await self._instance_page(key, "instance_jobs", page, size, consistency)

    async def list_instance_incidents(
        self,
        key: int,
        page: int = 1,
        size: int = 10,
        state: str | None = None,
        consistency: Consistency = "linearizable",
    ) -> dict[str, Any]:
        return await self._instance_page(
            key, "instance_incidents", page, size, consistency, incident_state=state
        )

    async def list_child_instances(
        self, key: int, page: int = 1, size: int = 10, consistency: Consistency = "linearizable"
    ) -> dict[str, Any]:
        """The instances the instance's call activities started (on its own partition)."""
        return await self._instance_page(key, "child_instances", page, size, consistency)

    async def list_event_subscriptions(
        self,
        key: int,
        page: int = 1,
        size: int = 10,
        subscription_type: str | None = None,
        consistency: Consistency = "linearizable",
    ) -> dict[str, Any]:
        """The instance's open timers, message and signal subscriptions."""
        return await self._instance_page(
            key,
            "event_subscriptions",
            page,
            size,
            consistency,
            subscription_type=subscription_type,
        )

    async def cancel_instance(self, key: int, idempotency_key: str | None = None) -> dict[str, Any]:
        pid = self.cluster.partition_of(key, "process instance")
        return await self._run(pid, CancelInstance(process_instance_key=key), idempotency_key)

    async def modify_instance(
        self,
        key: int,
        variables: dict[str, Any] | None = None,
        activate: list[dict[str, Any]] | None = None,
        terminate: list[int] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Modify an active instance in one replicated command (Zeebe's ModifyProcessInstance,
        semantics in engine/bpmn/modification.py): `variables` in the process scope, tokens
        started at elements (`activate`: [{elementId, ancestorElementInstanceKey?, variables?:
        [{scopeId?, variables}]}]), element instances terminated (`terminate`: their keys).
        Returns the instance view after the modification."""
        pid = self.cluster.partition_of(key, "process instance")
        command = ModifyInstance(
            process_instance_key=key,
            variables=self.check_variables(variables) if variables else None,
            activate=self._start_instructions(activate),
            terminate=list(terminate) if terminate else None,
        )
        await self._run(pid, command, idempotency_key)
        return await self.get_instance(key)

    def _start_instructions(
        self, items: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]] | None:
        """Start instructions with every variable document within the size limit (the
        engine checks their shape and the elements)."""
        if not items:
            return None
        for item in items:
            for scoped in (item.get("variables") if isinstance(item, dict) else None) or ():
                if isinstance(scoped, dict):
                    self.check_variables(scoped.get("variables") or {})
        return list(items)

    async def set_variables(
        self,
        key: int,
        variables: dict[str, Any],
        local: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Set `variables` in a process instance: they propagate (each updates the nearest scope
        that has it, else the process scope; `local`: the process scope itself)."""
        pid = self.cluster.partition_of(key, "process instance")
        command = SetVariables(
            process_instance_key=key,
            variables=self.check_variables(variables),
            local=local or None,
        )
        return await self._run(pid, command, idempotency_key)

    async def delete_variable(
        self,
        key: int,
        name: str,
        element_instance_key: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Delete variable `name` of an active instance: from the process scope, or the one
        `element_instance_key` sees (the nearest scope outwards from it that has it)."""
        pid = self.cluster.partition_of(key, "process instance")
        command = DeleteVariable(
            process_instance_key=key, name=name, element_instance_key=element_instance_key
        )
        return await self._run(pid, command, idempotency_key)

    async def set_element_variables(
        self,
        element_instance_key: int,
        variables: dict[str, Any],
        local: bool = False,
        instance: int | None = None,
    ) -> dict[str, Any]:
        """Zeebe's SetVariables: the scope is an instance or one of its element instances; the
        variables propagate from it, or with `local` are set in it. Given `instance`, the
        element instance must belong to it."""
        pid = self.cluster.partition_of(element_instance_key, "element instance")
        command = SetVariables(
            process_instance_key=instance,
            element_instance_key=element_instance_key,
            variables=self.check_variables(variables),
            local=local or None,
        )
        return await self._run(pid, command)

    # ------------------------------------------------------------------- jobs

    async def list_jobs(
        self,
        page: int = 1,
        size: int = 10,
        state: str | None = None,
        job_type: str | None = None,
        process_instance_key: int | None = None,
        consistency: Consistency = "linearizable",
        assignee: str | None = None,
    ) -> dict[str, Any]:
        """Per-partition pages: page 1 size 10 over two full partitions returns 20 jobs."""
        args = {
            "state": state,
            "job_type": job_type,
            "instance_key": process_instance_key,
            "assignee": assignee,
            "offset": (page - 1) * size,
            "limit": size,
        }
        partition_ids = self._instance_partitions(process_instance_key)
        return await self._per_partition_page(
            partition_ids, "list_jobs", args, page, size, consistency
        )

    async def get_job(self, key: int, consistency: Consistency = "linearizable") -> dict[str, Any]:
        pid = self.cluster.partition_of(key, "job")
        job: dict[str, Any] = await self.cluster.read(
            pid, "get_job", consistency=consistency, key=key
        )
        return job

    async def complete_job(
        self,
        key: int,
        variables: dict[str, Any] | None,
        worker: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """With `worker` (a job stream), an activated job must be locked by that worker."""
        pid = self.cluster.partition_of(key, "job")
        command = CompleteJob(job_key=key, variables=self.check_variables(variables), worker=worker)
        return await self._run(pid, command, idempotency_key)

    async def fail_job(
        self,
        key: int,
        retries: int | None = None,
        error_code: str | None = None,
        message: str | None = None,
        variables: dict[str, Any] | None = None,
        retry_backoff_ms: int | None = None,
        worker: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        pid = self.cluster.partition_of(key, "job")
        command = FailJob(
            job_key=key,
            retries=retries,
            error_code=error_code or None,
            message=message or "",
            variables=self.check_variables(variables),
            retry_backoff_ms=retry_backoff_ms,
            worker=worker,
        )
        return await self._run(pid, command, idempotency_key)

    async def throw_error(
        self, key: int, error_code: str, message: str = "", variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Zeebe's ThrowError: fail the job with a BPMN error code."""
        if not error_code:
            raise BadRequest("ThrowError needs an errorCode")
        pid = self.cluster.partition_of(key, "job")
        command = ThrowError(
            job_key=key,
            error_code=error_code,
            message=message,
            variables=self.check_variables(variables),
        )
        return await self._run(pid, command)

    async def update_job_retries(
        self, key: int, retries: int, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Set the retries of a job (a failed job keeps them once its incident is resolved)."""
        pid = self.cluster.partition_of(key, "job")
        command = UpdateJobRetries(job_key=key, retries=retries)
        return await self._run(pid, command, idempotency_key)

    async def assign_job(
        self, key: int, assignee: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Name the user a job is assigned to (a job that still waits; else 409)."""
        pid = self.cluster.partition_of(key, "job")
        return await self._run(pid, AssignJob(job_key=key, assignee=assignee), idempotency_key)

    async def update_job_timeout(self, key: int, timeout_ms: int) -> dict[str, Any]:
        """A new lock deadline for an activated job: now + `timeout_ms` (`{jobKey, deadline}`)."""
        pid = self.cluster.partition_of(key, "job")
        return await self._run(pid, UpdateJobTimeout(job_key=key, timeout_ms=timeout_ms))

    # -------------------------------------------------------------- incidents

    async def list_incidents(
        self,
        page: int = 1,
        size: int = 10,
        process_instance_key: int | None = None,
        state: str | None = None,
        consistency: Consistency = "linearizable",
    ) -> dict[str, Any]:
        args = {
            "instance_key": process_instance_key,
            "offset": (page - 1) * size,
            "limit": size,
            "incident_state": state,
        }
        partition_ids = self._instance_partitions(process_instance_key)
        return await self._per_partition_page(
            partition_ids, "list_incidents", args, page, size, consistency
        )

    async def get_incident(
        self, key: int, consistency: Consistency = "linearizable"
    ) -> dict[str, Any]:
        pid = self.cluster.partition_of(key, "incident")
        incident: dict[str, Any] = await self.cluster.read(
            pid, "get_incident", consistency=consistency, key=key
        )
        return incident

    async def resolve_incident(
        self, key: int, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        pid = self.cluster.partition_of(key, "incident")
        return await self._run(pid, ResolveIncident(incident_key=key), idempotency_key)

    # ------------------------------------------------------- messages, signals

    async def publish_message(
        self,
        name: str,
        correlation_key: str = "",
        variables: dict[str, Any] | None = None,
        time_to_live_ms: int = 0,
        message_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """On the partition that owns the correlation key: `{messageKey, correlated,
        startedInstances, partition}`."""
        if not name:
            raise BadRequest("a message needs a name")
        if time_to_live_ms < 0:
            raise BadRequest("timeToLive must not be negative")
        partition_id = message_partition(correlation_key, len(self.cluster.partition_ids))
        command = PublishMessage(
            message_name=name,
            correlation_key=correlation_key,
            variables=self.check_variables(variables),
            time_to_live=time_to_live_ms,
            message_id=message_id or None,
        )
        result = await self._run(partition_id, command, idempotency_key)
        return {**result, "partition": partition_id}

    async def broadcast_signal(
        self, name: str, variables: dict[str, Any] | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Trigger every signal event waiting for `name`, on every partition.

        The deployment partition (where signal start events listen) applies it first and gives
        the signal its key; the other partitions get the same command with that `signalKey`, so
        each applies one signal once. Returns `{key, triggered, startedInstances}` summed over
        the partitions.
        """
        if not name:
            raise BadRequest("a signal needs a name")
        variables = self.check_variables(variables)
        first = await self._run(
            DEPLOYMENT_PARTITION,
            BroadcastSignal(signal_name=name, variables=variables),
            idempotency_key,  # the copies below are idempotent by their signalKey
        )
        copy = BroadcastSignal(signal_name=name, variables=variables, signal_key=first["signalKey"])
        others = [p for p in self.cluster.partition_ids if p != DEPLOYMENT_PARTITION]
        results = [first, *await asyncio.gather(*(self._run(p, copy) for p in others))]
        return {
            "key": first["signalKey"],
            "triggered": sum(r["triggered"] for r in results),
            "startedInstances": [k for r in results for k in r["startedInstances"]],
        }

    # ------------------------------------------------------------ the cluster

    def is_ready(self) -> bool:
        """Every local partition has a leader (the readiness probe)."""
        return self.cluster.is_ready()

    async def status(self) -> dict[str, Any]:
        """This node: its partitions' local replicas and the internal job handlers."""
        return {
            "nodeId": self.cluster.config.node_id,
            "ready": self.is_ready(),
            "partitions": self.cluster.partition_statuses(),
            "handlers": self._handler_stats(),
        }

    async def topology(self, with_digest: bool = True) -> dict[str, Any]:
        """Nodes (up/down) and partitions (leader, followers, replicas' applied index, digest)."""
        topology: dict[str, Any] = await self.cluster.topology(with_digest=with_digest)
        return topology
