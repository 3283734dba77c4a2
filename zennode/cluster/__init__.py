"""Partitions on PySyncObj (one Raft group per partition replica), placement and routing."""

from zennode.cluster.batcher import NotCommitted, OutcomeUnknown
from zennode.cluster.partition import Partition, PartitionSettings

__all__ = ["NotCommitted", "OutcomeUnknown", "Partition", "PartitionSettings"]
