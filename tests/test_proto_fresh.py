"""The checked-in gRPC code must be what scripts/gen-proto makes from proto/*.proto today.

Lines that only record the generator's version are masked, so a newer grpcio-tools in CI does
not fail the test while any change to the messages or the service does.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED_IN = {
    "api": ROOT / "zennode" / "api" / "proto",
    "cluster": ROOT / "zennode" / "cluster" / "proto",
    "jobs": ROOT / "zennode" / "jobs" / "proto",
}

_VERSION_LINES = re.compile(
    r"^(# Protobuf Python Version: .*|GRPC_GENERATED_VERSION = .*|\s+\d+,)$", re.M
)


def _normalized(text: str) -> str:
    return _VERSION_LINES.sub("<version>", text)


@pytest.mark.parametrize("target", sorted(CHECKED_IN))
def test_generated_code_matches_proto(tmp_path: Path, target: str) -> None:
    pytest.importorskip("grpc_tools")
    checked_in = CHECKED_IN[target]
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gen-proto"),
            "--target",
            target,
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    fresh = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    kept = sorted(p.name for p in checked_in.iterdir() if p.is_file())
    assert fresh == kept, "scripts/gen-proto makes other files than are checked in"
    for name in fresh:
        new = _normalized((tmp_path / name).read_text())
        old = _normalized((checked_in / name).read_text())
        assert new == old, f"{checked_in.relative_to(ROOT)}/{name} is stale: run scripts/gen-proto"


def test_wire_numbers_are_zenbpm_compatible() -> None:
    """ZenBPM's field numbers never move: its workers must keep decoding our messages."""
    from zennode.api.proto import zenbpm_pb2 as pb

    def numbers(message: type) -> dict[str, int]:
        return {f.name: f.number for f in message.DESCRIPTOR.fields}

    assert pb.DESCRIPTOR.package == "grpc"
    service = pb.DESCRIPTOR.services_by_name["ZenBpm"]
    method = service.methods_by_name["JobStream"]
    assert method.client_streaming and method.server_streaming
    assert numbers(pb.JobStreamRequest) == {"subscription": 1, "complete": 2, "fail": 3}
    assert numbers(pb.StreamSubscriptionRequest) == {
        "job_type": 1,
        "type": 2,
        "lock_duration": 3,
        "max_active_jobs": 4,
    }
    kind = pb.StreamSubscriptionRequest.Type
    assert (kind.TYPE_UNDEFINED, kind.TYPE_SUBSCRIBE, kind.TYPE_UNSUBSCRIBE) == (0, 1, 2)
    # zennode's additions (the idempotency key of a result) take numbers far from ZenBPM's.
    assert numbers(pb.JobCompleteRequest) == {"key": 1, "variables": 2, "idempotency_key": 100}
    fail = numbers(pb.JobFailRequest)
    assert {k: fail[k] for k in ("key", "message", "error_code", "variables")} == {
        "key": 1,
        "message": 2,
        "error_code": 3,
        "variables": 4,
    }
    assert (fail["retries"], fail["retry_backoff_ms"], fail["idempotency_key"]) == (5, 6, 100)
    assert numbers(pb.JobStreamResponse) == {"error": 1, "job": 2}
    waiting = numbers(pb.WaitingJob)
    zenbpm = ("key", "instance_key", "input_variables", "type", "element_id", "created_at")
    assert [waiting[name] for name in zenbpm] == [1, 2, 3, 4, 5, 6]
    assert all(n > 6 for name, n in waiting.items() if name not in zenbpm)
    assert numbers(pb.ErrorResult) == {"code": 1, "message": 2}
