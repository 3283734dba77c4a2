"""The fault suite's SDK workers (`faults.load.Workers`) in a process of their own.

gRPC opens its connections on its own threads, so a worker cannot be moved into a network
namespace by its thread; the suite starts this module with `ip netns exec CLIENT_NS`:

    python -m partitions.worker_process GRPC_ADDRESS...

It prints `ready`, runs until its stdin closes, stops the workers and prints one JSON line:
{"deliveries": {job key: times delivered}}.
"""

from __future__ import annotations

import json
import sys

from faults.load import Workers


def main(addresses: list[str]) -> None:
    workers = Workers(addresses)
    workers.start()
    print("ready", flush=True)
    sys.stdin.read()
    workers.stop()
    deliveries = {str(key): count for key, count in workers.deliveries.items()}
    print(json.dumps({"deliveries": deliveries}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
