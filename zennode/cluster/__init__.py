"""Partitions on PySyncObj (one Raft group per partition replica), placement and routing."""

from zennode.cluster.partition import Partition, PartitionSettings

__all__ = ["Partition", "PartitionSettings"]
