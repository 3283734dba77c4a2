"""`Engine.apply(txn, command) -> Outcome`: the deterministic state machine of one partition.

Pure: no clock (the leader stamps `now_ms` into each command), no randomness, no I/O but the
transaction it is given. A command writes through an overlay that is flushed only when the
command succeeds, so a rejected command leaves the state byte-for-byte as it was.

Two kinds of failure, handled differently:
- a bad command (malformed, unknown key, wrong state) is refused: an `Outcome` with an error,
  the state unchanged, every replica refusing it alike;
- a violated invariant (`assert` in the engine: the state itself is inconsistent) is raised.
  The partition then halts this replica (`Partition._halt`): it stops applying, loudly,
  rather than build on a state that may make it drift from the others (TigerBeetle). So the
  engine must never run under `python -O`, which strips assertions.
"""

from __future__ import annotations

from typing import Any

from zennode.engine.commands import COMMANDS, from_wire
from zennode.engine.commands.deploy import start_schedules
from zennode.engine.context import Context
from zennode.engine.expressions import reset_command_time, set_command_time
from zennode.engine.model import Definitions, Deployed
from zennode.engine.offers import BatchOffers
from zennode.engine.outcome import Outcome
from zennode.engine.parser import parse_definitions
from zennode.engine.search import backfill
from zennode.engine.storage import KVWrite
from zennode.errors import BadRequest, ZennodeError

ACTIVATIONS_PER_COMMAND_MAX = 10_000
MODEL_CACHE_MAX = 1024  # parsed definitions kept in memory (re-parsed from state on a miss)


class Engine:
    def __init__(
        self, partition_id: int, activations_max: int = ACTIVATIONS_PER_COMMAND_MAX
    ) -> None:
        self.partition_id = partition_id
        self.activations_max = activations_max
        self._models: dict[int, Deployed] = {}

    def apply(
        self, txn: KVWrite, command: dict[str, Any], offers: BatchOffers | None = None
    ) -> Outcome:
        """Apply one command in its wire form (`commands.to_wire`, with the leader's `now_ms`);
        never raises for bad input or execution problems. `offers`: the push offers of the
        batch the command is in (zennode.engine.offers), shared by its commands in order."""
        if offers is not None:
            offers.begin()  # a refused command before this one gives back what it took
        try:
            record = from_wire(command)  # BadRequest for an unknown type or a bad field
            now_ms = command.get("now_ms")
            if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms < 0:
                raise BadRequest("now_ms must be a non-negative integer")
            ctx = Context(
                self.partition_id, txn, now_ms, self._models, self.activations_max, offers
            )
            token = set_command_time(now_ms)
            try:
                backfill.mark_if_new(ctx.db)  # a partition without instances needs no backfill
                result = COMMANDS[type(record)](ctx, record)
            finally:
                reset_command_time(token)
        except ZennodeError as exc:
            return Outcome(error=exc)
        except AssertionError:
            raise  # a violated invariant: the partition halts this replica (see above)
        except (RecursionError, TypeError, ValueError, KeyError) as exc:
            # Malformed input that slipped past validation: reject the command, change nothing.
            return Outcome(error=BadRequest(f"command rejected: {type(exc).__name__}: {exc}"))
        if len(self._models) + len(ctx.new_models) > MODEL_CACHE_MAX:
            self._models.clear()
        ctx.commit()
        return Outcome(result=result, events=ctx.events)

    def validate_deploy(self, xml: bytes | str, now_ms: int) -> Definitions:
        """Parse and validate a deployment before it goes through Raft (raises BadRequest):
        everything the deploy command would refuse, so a deploy call of several resources is
        refused before any of them is stored. Timer start expressions are evaluated at
        `now_ms`, which the caller takes from the clock the command's batch time comes from:
        a timer's validity can depend on the time (a calendar duration, a FEEL `now()`), so
        checked at another time (it was 0) the check could accept what the command refuses."""
        data = xml.encode() if isinstance(xml, str) else xml
        definitions = parse_definitions(data)
        token = set_command_time(now_ms)
        try:
            for process in definitions.processes:
                start_schedules(process, now_ms)
        finally:
            reset_command_time(token)
        return definitions
