"""Key layout shared by every layer: partition id in the high bits, as Zeebe does.

A key is `partition_id << 51 | counter`, so any node can tell from a job, instance,
incident or element-instance key which partition owns it. Partition ids start at 1.
"""

from __future__ import annotations

PARTITION_BITS_SHIFT = 51
COUNTER_MASK = (1 << PARTITION_BITS_SHIFT) - 1
MAX_PARTITION_ID = (1 << (63 - PARTITION_BITS_SHIFT)) - 1  # keys stay positive int64


def make_key(partition_id: int, counter: int) -> int:
    if not 1 <= partition_id <= MAX_PARTITION_ID:
        raise ValueError(f"partition id {partition_id} out of range")
    if not 0 <= counter <= COUNTER_MASK:
        raise ValueError(f"counter {counter} out of range")
    return (partition_id << PARTITION_BITS_SHIFT) | counter


def partition_of(key: int) -> int:
    return key >> PARTITION_BITS_SHIFT


def counter_of(key: int) -> int:
    return key & COUNTER_MASK
