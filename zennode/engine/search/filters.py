"""What an instance search asks for (`Filters`): checked once (a bad value is a BadRequest
before any partition is read) and matched against an instance's summary when the driving
index alone does not decide (planner.py)."""

from __future__ import annotations

from dataclasses import dataclass

from zennode.engine.search.layout import BUSINESS_KEY_CHARS_MAX, STATES, Summary
from zennode.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Filters:
    """What `search` matches; every given field must match (AND). Times in epoch ms."""

    state: str | None = None
    bpmn_process_id: str | None = None
    process_definition_key: int | None = None
    business_key: str | None = None
    parent_key: int | None = None
    activity_id: str | None = None
    created_from: int | None = None  # inclusive
    created_to: int | None = None  # inclusive

    def check(self) -> None:
        if self.state is not None and self.state not in STATES:
            raise BadRequest(f"state must be one of {', '.join(STATES)}, got {self.state!r}")
        for name, value in (
            ("bpmnProcessId", self.bpmn_process_id),
            ("businessKey", self.business_key),
            ("activityId", self.activity_id),
        ):
            if value is not None and (not value or "\0" in value):
                raise BadRequest(f"{name} must be a non-empty text without NUL")
        if self.business_key is not None and len(self.business_key) > BUSINESS_KEY_CHARS_MAX:
            raise BadRequest(f"businessKey is longer than {BUSINESS_KEY_CHARS_MAX} characters")
        for name, number in (
            ("processDefinitionKey", self.process_definition_key),
            ("parentProcessInstanceKey", self.parent_key),
            ("createdFrom", self.created_from),
            ("createdTo", self.created_to),
        ):
            if number is not None and (
                not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 2**63
            ):
                raise BadRequest(f"{name} must be an integer from 0 to 2^63-1, got {number!r}")
        if (
            self.created_from is not None
            and self.created_to is not None
            and self.created_from > self.created_to
        ):
            raise BadRequest("createdFrom is after createdTo")

    def matches(self, summary: Summary) -> bool:
        return (
            (self.state is None or summary["s"] == self.state)
            and (self.bpmn_process_id is None or summary["p"] == self.bpmn_process_id)
            and (self.process_definition_key is None or summary["d"] == self.process_definition_key)
            and (self.business_key is None or summary.get("b") == self.business_key)
            and (self.parent_key is None or summary.get("r") == self.parent_key)
            and (self.activity_id is None or self.activity_id in summary["a"])
            and (self.created_from is None or summary["c"] >= self.created_from)
            and (self.created_to is None or summary["c"] <= self.created_to)
        )
