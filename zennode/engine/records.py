"""Record codecs and key layouts of every engine table, in one place.

Values are compact JSON (deterministic: dicts keep insertion order, which the engine builds in a
fixed order), integers in keys are 8-byte big-endian so they sort numerically, and strings in
keys end with a NUL so a prefix scan of one type never matches a longer one.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECODER = json.JSONDecoder()

COUNTER_KEY = b"key_counter"
LATEST_PREFIX = b"latest\0"  # table "index": latest definition key of a bpmnProcessId
ELEMENT_INSTANCE_PREFIX = b"ei\0"  # table "index": waiting element instance -> instance key


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def from_u64(data: bytes) -> int:
    return int.from_bytes(data, "big")


def dumps(record: Any) -> bytes:
    return _ENCODER.encode(record).encode()


def loads(data: bytes) -> Any:
    return _DECODER.decode(data.decode())


def text(value: str) -> bytes:
    return value.encode() + b"\0"


# ---------------------------------------------------------------- definitions


def definition_by_id_key(bpmn_process_id: str, version: int) -> bytes:
    return text(bpmn_process_id) + u64(version)


def latest_key(bpmn_process_id: str) -> bytes:
    return LATEST_PREFIX + text(bpmn_process_id)


def element_instance_key(key: int) -> bytes:
    return ELEMENT_INSTANCE_PREFIX + u64(key)


# ---------------------------------------------------------------- jobs


def job_state_key(state: str, job_type: str, key: int) -> bytes:
    return text(state) + text(job_type) + u64(key)


def job_state_prefix(state: str, job_type: str | None = None) -> bytes:
    prefix = text(state)
    return prefix if job_type is None else prefix + text(job_type)


def pair_key(first: int, second: int) -> bytes:
    """instance key + job/incident key, or deadline + job key."""
    return u64(first) + u64(second)


def second_of_pair(key: bytes) -> int:
    return from_u64(key[8:16])
