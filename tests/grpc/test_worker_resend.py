"""The SDK re-sends results a broken stream may have lost, each with its idempotency key (the
node applies a key once: a repeat gets the first answer, never a second effect)."""

from __future__ import annotations

import asyncio
from collections import deque

from zennode.api.proto import zenbpm_pb2 as pb
from zennode.worker import RESULTS_RESENT_MAX, Worker


def result(key: int) -> pb.JobStreamRequest:
    return pb.JobStreamRequest(
        complete=pb.JobCompleteRequest(key=key, idempotency_key=f"result-{key}")
    )


def test_results_written_or_queued_on_a_broken_stream_are_kept_for_the_next() -> None:
    worker = Worker(["127.0.0.1:1"])

    async def broken_stream() -> None:
        outgoing: asyncio.Queue[pb.JobStreamRequest | None] = asyncio.Queue()
        subscription = pb.JobStreamRequest(subscription=pb.StreamSubscriptionRequest(job_type="t"))
        for item in (result(3), subscription, None):
            outgoing.put_nowait(item)
        written = deque([result(1), result(2)])  # written to the stream, maybe lost
        worker._keep_for_resend(written, outgoing)

    asyncio.run(broken_stream())
    kept = [r.complete.idempotency_key for r in worker._resend]
    assert kept == ["result-1", "result-2", "result-3"]  # subscriptions are sent anew anyway


def test_the_resend_buffer_is_bounded() -> None:
    worker = Worker(["127.0.0.1:1"])
    worker._keep_for_resend(
        deque(result(k) for k in range(3 * RESULTS_RESENT_MAX)), asyncio.Queue()
    )
    assert len(worker._resend) == RESULTS_RESENT_MAX
