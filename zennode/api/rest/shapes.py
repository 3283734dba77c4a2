"""Engine query results to REST response shapes, in one place.

The engine's queries already return the REST field names; what is left here is what only the
HTTP face wants: timestamps as ISO 8601 strings (the engine keeps epoch milliseconds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from zennode.errors import BadRequest

_TIME_FIELDS = (
    "createdAt",
    "endedAt",
    "resolvedAt",
    "deployedAt",
    "deadline",
    "activatableAt",
    "dueDate",
)


def iso_time(value: Any) -> Any:
    """Epoch milliseconds → ISO 8601 UTC; anything else is passed through."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return value


def epoch_ms(value: datetime | None, name: str) -> int | None:
    """An ISO 8601 date-time parameter as epoch ms (UTC when it names no zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ms = int(value.timestamp() * 1000)
    if ms < 0:
        raise BadRequest(f"{name} must not be before 1970-01-01")
    return ms


def with_iso_times(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for name in _TIME_FIELDS:
        if name in out:
            out[name] = iso_time(out[name])
    return out


def page_items(result: dict[str, Any]) -> dict[str, Any]:
    """Convert the items of a flat page (`{items, page, size, count, totalCount}`)."""
    return {**result, "items": [with_iso_times(i) for i in result["items"]]}


def paged(result: dict[str, Any]) -> dict[str, Any]:
    """Convert the items of a per-partition page (`{partitions: [{partition, items}], ...}`)."""
    out = dict(result)
    out["partitions"] = [
        {"partition": p["partition"], "items": [with_iso_times(i) for i in p["items"]]}
        for p in result["partitions"]
    ]
    return out
