"""Leader-side drivers: tasks that run on the leader of each partition this node leads and
turn what the engine left in state into commands, because the engine has no clock and
cannot talk to other partitions.

- `timers.py`: fires due BPMN timers (and expires buffered messages) with `trigger_timers`.
- `partition_relay.py`: the cross-partition command relay (message subscriptions and
  correlations, signal broadcasts between partitions).

The job manager (`zennode.jobs.manager`) is the third leader-side driver; it lives with the
rest of job distribution. All of them depend on `zennode.cluster.client.ClusterClient` only.
"""
