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
CHILD_OF_PREFIX = b"cp\0"  # table "index": parent instance(8B) child instance(8B) -> b""
# table "index": deployment key(8B) + bpmnProcessId -> the definition key of that deployment
DEPLOYED_IN_PREFIX = b"dp\0"


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


def deployed_in_key(deployment_key: int, bpmn_process_id: str) -> bytes:
    return DEPLOYED_IN_PREFIX + u64(deployment_key) + text(bpmn_process_id)


def element_instance_key(key: int) -> bytes:
    return ELEMENT_INSTANCE_PREFIX + u64(key)


def child_of_key(parent_key: int, child_key: int) -> bytes:
    """A call activity of `parent_key` started `child_key` (both on the parent's partition)."""
    return CHILD_OF_PREFIX + pair_key(parent_key, child_key)


# ---------------------------------------------------------------- jobs


def job_state_key(state: str, job_type: str, key: int) -> bytes:
    return text(state) + text(job_type) + u64(key)


def job_state_prefix(state: str, job_type: str | None = None) -> bytes:
    prefix = text(state)
    return prefix if job_type is None else prefix + text(job_type)


JOB_ASSIGNEE_PREFIX = b"ja\0"  # table "index": assignee\0 job key(8B) -> b""


def job_assignee_key(assignee: str, key: int) -> bytes:
    return JOB_ASSIGNEE_PREFIX + text(assignee) + u64(key)


def pair_key(first: int, second: int) -> bytes:
    """instance key + job/incident key, or deadline + job key."""
    return u64(first) + u64(second)


def second_of_pair(key: bytes) -> int:
    return from_u64(key[8:16])


# ---------------------------------------------------------------- timers

TIMER_INDEX_PREFIX = b"tm\0"  # table "index": timer key -> due (to find a timer's row)
TIMER_START_PREFIX = b"ts\0"  # table "index": bpmnProcessId + timer key of a timer start event
MESSAGE_START_PREFIX = b"ms\0"  # table "index": message name + bpmnProcessId -> definition key


def timer_row(due_ms: int, timer_key: int) -> bytes:
    return u64(due_ms) + u64(timer_key)


def timer_index_key(timer_key: int) -> bytes:
    return TIMER_INDEX_PREFIX + u64(timer_key)


def timer_start_key(bpmn_process_id: str, timer_key: int) -> bytes:
    return TIMER_START_PREFIX + text(bpmn_process_id) + u64(timer_key)


def message_start_key(message_name: str, bpmn_process_id: str) -> bytes:
    return MESSAGE_START_PREFIX + text(message_name) + text(bpmn_process_id)


# ---------------------------------------------------------------- messages and subscriptions
# Table "subscriptions" holds both sides of a message subscription:
#   instance side  p\0 sub(8B) -> what waits; o\0 / c\0 sub(8B) -> pending open / close relay
#   message side   m\0 name\0 key\0 sub(8B) -> subscription; k\0 sub(8B) -> its m-row key;
#                  d\0 sub(8B) msg(8B) -> pending delivery relay
# Table "messages": m\0 msg(8B) -> message; n\0 name\0 key\0 msg(8B); x\0 expiry(8B) msg(8B);
#   i\0 messageId\0 -> msg key.

SUB_PROCESS_SIDE = b"p\0"
SUB_PENDING_OPEN = b"o\0"
SUB_PENDING_CLOSE = b"c\0"
SUB_BY_NAME = b"m\0"
SUB_ROW_OF = b"k\0"
SUB_PENDING_DELIVERY = b"d\0"
SUB_SIGNAL = b"g\0"  # signal name\0 sub(8B) -> instance key (signals are local subscriptions)
SIGNAL_PENDING = b"s\0"  # sig(8B) -> pending broadcast relay of a thrown signal
DEPLOY_PENDING = b"D\0"  # deployment(8B) -> pending relay of its copy to the other partitions
SIGNALS_SEEN_KEY = b"signals_seen"  # table "meta": keys of recently applied broadcasts
MESSAGE_STARTED_PREFIX = b"mi\0"  # table "index": bpmnProcessId + correlation key -> instance
SIGNAL_START_PREFIX = b"ss\0"  # table "index": signal name + bpmnProcessId -> definition key
MSG_RECORD = b"m\0"
MSG_BY_NAME = b"n\0"
MSG_BY_EXPIRY = b"x\0"
MSG_BY_ID = b"i\0"


def message_started_key(bpmn_process_id: str, correlation_key: str) -> bytes:
    return MESSAGE_STARTED_PREFIX + text(bpmn_process_id) + text(correlation_key)


def signal_row(name: str, sub_key: int) -> bytes:
    return SUB_SIGNAL + text(name) + u64(sub_key)


def signal_start_key(signal_name: str, bpmn_process_id: str) -> bytes:
    return SIGNAL_START_PREFIX + text(signal_name) + text(bpmn_process_id)


def name_and_key(message_name: str, correlation_key: str) -> bytes:
    return text(message_name) + text(correlation_key)
