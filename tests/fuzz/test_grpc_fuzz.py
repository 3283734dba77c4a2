"""Property-based fuzzing of the public gRPC port: every Zeebe Gateway RPC and the ZenBpm
JobStream get messages generated from their protobuf descriptors (random and real keys,
hostile JSON in the variable fields, huge and negative numbers), on a seeded node.

The check: no call ends with INTERNAL or UNKNOWN (an unhandled server error), a stream answers
bad requests with `ErrorResult`s, and the node still serves at the end. Bounded by
`FUZZ_EXAMPLES` messages per RPC (env `ZENNODE_FUZZ_EXAMPLES`).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyzeebe.proto import gateway_pb2 as gw
from support.nodes import NodeThread, node_config

from fuzz.seed import Seeded, seed
from zennode.api.proto import zenbpm_pb2 as pb
from zennode.node import Node

FUZZ_EXAMPLES = int(os.environ.get("ZENNODE_FUZZ_EXAMPLES", "25"))
CALL_TIMEOUT_S = 5.0
DEPTH_MAX = 3
BAD_STATUSES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
GATEWAY = gw.DESCRIPTOR.services_by_name["Gateway"]

HOSTILE_JSON = [
    "",
    "{}",
    "null",
    "[1,2]",
    '"text"',
    "{not json",
    '{"a": NaN}',
    '{"x": 1e999}',
    '{"a":' * 300 + "1" + "}" * 300,
    '{"big": "' + "a" * 300_000 + '"}',
    '{"\\u0000": "\\ud800"}',
]
INT64 = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 2**51, (1 << 51) + 1, (2 << 51) + 1, (1023 << 51) + 5]),
)

_stats: Counter[str] = Counter()


def _scalar(field: F, keys: list[int]) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return st.one_of(INT64, st.sampled_from(keys)) if keys else INT64
    if kind in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return st.integers(min_value=0, max_value=2**64 - 1)
    if kind in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    if kind in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return st.integers(min_value=0, max_value=2**32 - 1)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if kind == F.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(min_value=-5, max_value=50))
    if kind == F.TYPE_BYTES:
        return st.one_of(
            st.binary(max_size=64), st.sampled_from([s.encode() for s in HOSTILE_JSON])
        )
    if kind == F.TYPE_STRING:
        known = ["fuzzed", "fuzz-task", "fuzz-message", "o1", "", "x" * 10_000]
        return st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_JSON + known))
    raise AssertionError(f"field type {kind} of {field.full_name}")


def message_strategy(descriptor: Any, keys: list[int], depth: int = 0) -> st.SearchStrategy:
    """Dicts of field values (any subset of the fields) for `descriptor`."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.type == F.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue  # maps: left empty
            if depth >= DEPTH_MAX:
                continue
            value = message_strategy(field.message_type, keys, depth + 1)
        else:
            value = _scalar(field, keys)
        if field.is_repeated:
            value = st.lists(value, max_size=3)
        fields[field.name] = value
    return st.fixed_dictionaries({}, optional=fields)


def build(cls: Any, values: dict[str, Any]) -> Any:
    message = cls()
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if field.type == F.TYPE_MESSAGE:
            if field.is_repeated:
                for item in value:
                    sub = getattr(message, name).add()
                    sub.CopyFrom(build(type(sub), item))
            else:
                sub = getattr(message, name)
                sub.CopyFrom(build(type(sub), value))
        elif field.is_repeated:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


def _tame(method: str, message: Any) -> None:
    """Keep long polls and result waits short: the fuzz is about inputs, not waiting."""
    if method == "ActivateJobs":
        message.requestTimeout = min(message.requestTimeout, 200)
        message.maxJobsToActivate = min(max(message.maxJobsToActivate, 0), 5)
    if method == "CreateProcessInstanceWithResult":
        message.requestTimeout = min(max(message.requestTimeout, 0), 300)


@pytest.fixture(scope="module")
def grpc_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeThread, Seeded]]:
    runner = NodeThread(Node(node_config(tmp_path_factory.mktemp("gfuzz") / "data", 2)))
    runner.start()
    try:
        with httpx.Client(base_url=runner.url, timeout=15) as http:
            seeded = seed(http)
        yield runner, seeded
        with httpx.Client(base_url=runner.url, timeout=15) as http:
            assert http.get("/system/health/ready").status_code == 200
    finally:
        runner.stop()
        print(f"\ngRPC fuzz: {sum(_stats.values())} calls, statuses {dict(_stats)}")


def _all_keys(seeded: Seeded) -> list[int]:
    return [k for keys in seeded.keys.values() for k in keys]


async def _call(channel: grpc.aio.Channel, method: Any, message: Any) -> grpc.StatusCode:
    path = f"/{GATEWAY.full_name}/{method.name}"
    response_cls = gw.__dict__[method.output_type.name]
    if method.server_streaming:
        call = channel.unary_stream(
            path,
            request_serializer=type(message).SerializeToString,
            response_deserializer=response_cls.FromString,
        )(message, timeout=CALL_TIMEOUT_S)
        try:
            async with asyncio.timeout(0.5):
                async for _ in call:
                    pass
        except TimeoutError:
            call.cancel()
            return grpc.StatusCode.OK  # still streaming: fine
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK
    unary = channel.unary_unary(
        path,
        request_serializer=type(message).SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    try:
        await unary(message, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method_name", [m.name for m in GATEWAY.methods])
def test_zeebe_gateway_rpcs_never_fail_internally(grpc_node, method_name: str) -> None:
    runner, seeded = grpc_node
    method = GATEWAY.methods_by_name[method_name]
    request_cls = gw.__dict__[method.input_type.name]
    address = f"127.0.0.1:{runner.node.config.ports.grpc}"
    loop = asyncio.new_event_loop()
    channel = loop.run_until_complete(_open(address))
    try:

        @given(values=message_strategy(method.input_type, _all_keys(seeded)))
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(values: dict[str, Any]) -> None:
            message = build(request_cls, values)
            _tame(method_name, message)
            code = loop.run_until_complete(_call(channel, method, message))
            _stats[code.name] += 1
            assert code not in BAD_STATUSES, f"{method_name}({message}) -> {code}"

        run()
    finally:
        loop.run_until_complete(channel.close())
        loop.close()


async def _open(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        address, options=[("grpc.max_send_message_length", 8 * 1024 * 1024)]
    )


SENTINEL_KEY = 123_456_789  # partition 0: no such job; its error marks the end of a batch


def test_job_stream_answers_every_generated_request(grpc_node) -> None:
    """Streams of generated requests: each bad one gets an ErrorResult (never INTERNAL or
    UNKNOWN), and each stream is still open after the last one."""
    runner, seeded = grpc_node
    address = f"127.0.0.1:{runner.node.config.ports.grpc}"
    one = message_strategy(pb.JobStreamRequest.DESCRIPTOR, _all_keys(seeded))
    batch = st.lists(one, min_size=2 * FUZZ_EXAMPLES, max_size=2 * FUZZ_EXAMPLES)

    async def stream(requests: list[Any]) -> Counter[str]:
        codes: Counter[str] = Counter()
        async with await _open(address) as channel:
            queue: asyncio.Queue = asyncio.Queue()
            for request in requests:
                queue.put_nowait(request)
            queue.put_nowait(pb.JobStreamRequest(complete=pb.JobCompleteRequest(key=SENTINEL_KEY)))

            async def feed():
                while (item := await queue.get()) is not None:
                    yield item

            call = channel.stream_stream(
                "/grpc.ZenBpm/JobStream",
                request_serializer=pb.JobStreamRequest.SerializeToString,
                response_deserializer=pb.JobStreamResponse.FromString,
            )(feed())
            try:
                while True:
                    response = await asyncio.wait_for(call.read(), timeout=30)
                    assert response is not grpc.aio.EOF, "the stream ended"
                    if not response.HasField("error"):
                        codes["job"] += 1
                        continue
                    names = [c for c in grpc.StatusCode if c.value[0] == response.error.code]
                    assert names and names[0] not in BAD_STATUSES, response
                    codes[names[0].name] += 1
                    if str(SENTINEL_KEY) in response.error.message:
                        return codes
            finally:
                queue.put_nowait(None)
                call.cancel()

    @given(requests=batch)
    @settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(requests: list[dict[str, Any]]) -> None:
        codes = asyncio.run(stream([build(pb.JobStreamRequest, r) for r in requests]))
        _stats.update({f"stream:{k}": v for k, v in codes.items()})

    run()
