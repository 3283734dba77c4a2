"""Hostile input over the public APIs of a real node: refused or stopped by a limit, clearly,
in bounded time and memory, and the node keeps serving afterwards.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

import grpc
import httpx
import pytest
from pyzeebe.proto import gateway_pb2 as gw
from pyzeebe.proto import gateway_pb2_grpc as gw_grpc
from support.bpmn import HEAD, bpmn, flow

from zennode.api.proto import zenbpm_pb2 as pb
from zennode.api.proto import zenbpm_pb2_grpc as pb_grpc

TIMEOUT_S = 30.0
FAST_S = 5.0  # a refusal must come back at least this fast
RSS_GROWTH_MAX_KB = 300 * 1024  # peak RSS of the test process (node included) may grow by this

TAIL = "</bpmn:definitions>"


@pytest.fixture
def node(secure_node):
    runner = secure_node()
    with httpx.Client(base_url=runner.url, timeout=TIMEOUT_S) as http:
        runner.http = http
        yield runner
        # Whatever the test sent, the node still answers.
        assert http.get("/system/health/ready").status_code == 200
        assert http.get("/v1/process-definitions").status_code == 200


def deploy(http: httpx.Client, xml: str | bytes) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.post(
        "/v1/process-definitions", content=xml, headers={"content-type": "application/xml"}
    )
    return response, time.monotonic() - started


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ------------------------------------------------------------------------ hostile XML


def test_external_entity_is_refused_and_nothing_is_read(node, tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        + HEAD.split("\n", 1)[1]
        + '<bpmn:process id="xxe" isExecutable="true" name="&x;"><bpmn:startEvent id="s"/>'
        + "</bpmn:process>"
        + TAIL
    )
    response, took = deploy(node.http, xxe)
    assert response.status_code == 400 and took < FAST_S
    assert "TOP-SECRET" not in response.text
    assert "refused" in response.json()["message"]
    assert "TOP-SECRET" not in node.http.get("/v1/process-definitions").text


def test_entity_expansion_bomb_is_refused_fast(node) -> None:
    lol = ['<!ENTITY l0 "lollollollollollollollollollol">']
    for i in range(1, 10):
        lol.append(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">')
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE d ['
        + "".join(lol)
        + "]>\n"
        + HEAD.split("\n", 1)[1]
        + '<bpmn:process id="bomb" name="&l9;"/>'
        + TAIL
    )
    before = peak_rss_kb()
    response, took = deploy(node.http, bomb)
    assert response.status_code == 400 and took < FAST_S
    assert peak_rss_kb() - before < RSS_GROWTH_MAX_KB


def test_a_50_mb_upload_gets_413_with_or_without_content_length(node) -> None:
    big = b"<x>" + b"a" * (50 * 1024 * 1024) + b"</x>"
    response, took = deploy(node.http, big)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "TOO_LARGE"

    def chunks():
        for _ in range(50):
            yield b"a" * (1024 * 1024)

    started = time.monotonic()
    streamed = node.http.post(
        "/v1/process-definitions", content=chunks(), headers={"content-type": "application/xml"}
    )
    assert streamed.status_code == 413, streamed.text
    assert time.monotonic() - started < TIMEOUT_S


def test_10000_deep_nesting_is_refused_fast(node) -> None:
    deep = "<bpmn:task>" * 10_000 + "</bpmn:task>" * 10_000
    before = peak_rss_kb()
    response, took = deploy(node.http, bpmn(deep, "deep"))
    assert response.status_code == 400 and took < FAST_S
    assert "deeper" in response.json()["message"]
    assert peak_rss_kb() - before < RSS_GROWTH_MAX_KB


def test_bpmn_over_the_configured_size_is_413(secure_node) -> None:
    runner = secure_node(bpmn_bytes_max=10_000)
    padding = "<bpmn:documentation>" + "x" * 20_000 + "</bpmn:documentation>"
    xml = bpmn(padding + '<bpmn:startEvent id="s"/>', "padded")
    with httpx.Client(base_url=runner.url, timeout=TIMEOUT_S) as http:
        response, _ = deploy(http, xml)
    assert response.status_code == 413
    assert "10000" in response.json()["message"]


# ------------------------------------------------------------------ models that never wait


def _start(http: httpx.Client, xml: str, pid: str, variables: dict | None = None) -> dict:
    deployed, _ = deploy(http, xml)
    assert deployed.status_code in (200, 201), deployed.text
    started = time.monotonic()
    created = http.post(
        "/v1/process-instances", json={"bpmnProcessId": pid, "variables": variables or {}}
    )
    assert created.status_code == 201, created.text
    assert time.monotonic() - started < FAST_S
    key = created.json()["processInstanceKey"]
    incidents = http.get("/v1/incidents", params={"processInstanceKey": key}).json()
    return {
        "instance": http.get(f"/v1/process-instances/{key}").json(),
        "incidents": [i for part in incidents["partitions"] for i in part["items"]],
    }


def test_cycle_without_a_wait_state_stops_at_the_loop_limit(secure_node) -> None:
    runner = secure_node(loop_iterations_max=500)
    body = (
        '<bpmn:startEvent id="s"/><bpmn:task id="a"/><bpmn:task id="b"/>'
        + flow("f0", "s", "a")
        + flow("f1", "a", "b")
        + flow("f2", "b", "a")
    )
    with httpx.Client(base_url=runner.url, timeout=TIMEOUT_S) as http:
        result = _start(http, bpmn(body, "cycle"), "cycle")
        assert http.get("/system/health/ready").status_code == 200
    assert result["instance"]["state"] == "failed"  # stopped at an incident
    [incident] = result["incidents"]
    assert incident["errorType"] == "ACTIVATION_LIMIT_EXCEEDED"
    assert "500 element activations" in incident["message"]


def test_gateway_loop_that_never_ends_and_a_parallel_fork_bomb_are_bounded(node) -> None:
    endless = (
        '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="g"/><bpmn:task id="t"/>'
        '<bpmn:endEvent id="e"/>'
        + flow("f0", "s", "g")
        + flow("f1", "g", "t", "=n >= 0")
        + flow("f2", "t", "g")
        + flow("f3", "g", "e", "=n < 0")
    )
    result = _start(node.http, bpmn(endless, "endless"), "endless", {"n": 1})
    assert [i["errorType"] for i in result["incidents"]] == ["ACTIVATION_LIMIT_EXCEEDED"]
    # Each pass doubles the tokens: without a bound, 2^n of them.
    fork = (
        '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="x"/><bpmn:parallelGateway id="p"/>'
        + flow("f0", "s", "x")
        + flow("f1", "x", "p")
        + flow("f2", "p", "x")
        + flow("f3", "p", "x")
    )
    before = peak_rss_kb()
    result = _start(node.http, bpmn(fork, "fork"), "fork")
    assert result["incidents"], result
    assert peak_rss_kb() - before < RSS_GROWTH_MAX_KB


def test_feel_that_would_run_forever_or_explode_becomes_an_incident(node) -> None:
    body = (
        '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="g" default="f2"/>'
        '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
        + flow("f0", "s", "g")
        + flow("f1", "g", "e1", "=count(for x in 1..1000000000 return x) > 0")
        + flow("f2", "g", "e2")
    )
    result = _start(node.http, bpmn(body, "feelbomb"), "feelbomb")
    [incident] = result["incidents"]
    assert "range of more than" in incident["message"], incident


def test_variables_over_the_limit_are_413_and_deep_json_is_400(secure_node) -> None:
    runner = secure_node(variables_bytes_max=1000)
    xml = bpmn('<bpmn:startEvent id="s"/><bpmn:userTask id="u"/>' + flow("f", "s", "u"), "vars")
    with httpx.Client(base_url=runner.url, timeout=TIMEOUT_S) as http:
        deploy(http, xml)
        big = http.post(
            "/v1/process-instances", json={"bpmnProcessId": "vars", "variables": {"x": "a" * 2000}}
        )
        assert big.status_code == 413
        deep = '{"bpmnProcessId": "vars", "variables": ' + '{"a":' * 5000 + "1" + "}" * 5001
        response = http.post(
            "/v1/process-instances", content=deep, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert http.get("/v1/jobs", params={"size": 10_000}).status_code == 400  # page size


# ------------------------------------------------------------------------ gRPC streams


def test_malformed_and_oversized_grpc_messages_get_errors_and_the_node_stays_up(node) -> None:
    address = f"127.0.0.1:{node.node.config.ports.grpc}"

    async def scenario() -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            # Bytes that are not a JobStreamRequest: the call fails, the server lives on.
            raw = channel.stream_stream(
                "/grpc.ZenBpm/JobStream",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )

            async def garbage():
                yield b"\xff\xff\xff\xff\x0f garbage"

            answers = [pb.JobStreamResponse.FromString(r) async for r in raw(garbage())]
            [answer] = answers  # an ErrorResult, then the stream ends
            assert answer.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert "malformed" in answer.error.message

            # Over the message size limit: RESOURCE_EXHAUSTED.
            async def huge():
                yield b"\x12" + b"\xff" * 5 + b"a" * (8 * 1024 * 1024)

            with pytest.raises(grpc.aio.AioRpcError) as big:
                async for _ in raw(huge(), timeout=TIMEOUT_S):
                    pass
            assert big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

            # Well-formed but wrong requests: an ErrorResult each, and the stream stays open.
            stub = pb_grpc.ZenBpmStub(channel)
            queue: asyncio.Queue = asyncio.Queue()
            bad_requests = [
                pb.JobStreamRequest(),  # nothing set
                pb.JobStreamRequest(
                    subscription=pb.StreamSubscriptionRequest(
                        job_type="", type=pb.StreamSubscriptionRequest.TYPE_SUBSCRIBE
                    )
                ),
                pb.JobStreamRequest(complete=pb.JobCompleteRequest(key=1, variables=b"{not json")),
                pb.JobStreamRequest(
                    complete=pb.JobCompleteRequest(
                        key=2, variables=json.dumps({"x": "a" * 300_000}).encode()
                    )
                ),
                pb.JobStreamRequest(fail=pb.JobFailRequest(key=-5, variables=b"[1,2]")),
                pb.JobStreamRequest(complete=pb.JobCompleteRequest(key=(1 << 62) + 7)),
            ]
            for request in bad_requests:
                queue.put_nowait(request)

            async def requests():
                while True:
                    item = await queue.get()
                    if item is None:
                        return
                    yield item

            call = stub.JobStream(requests())
            errors = []
            for _ in bad_requests:
                response = await asyncio.wait_for(call.read(), timeout=TIMEOUT_S)
                assert response.HasField("error"), response
                errors.append(response.error)
            assert all(e.code != 0 and e.message for e in errors)
            assert not any(e.code == grpc.StatusCode.INTERNAL.value[0] for e in errors), errors
            # Still open: one more bad request, one more answer.
            queue.put_nowait(pb.JobStreamRequest())
            response = await asyncio.wait_for(call.read(), timeout=TIMEOUT_S)
            assert response.HasField("error")
            queue.put_nowait(None)
            call.cancel()

    asyncio.run(scenario())


def test_hostile_bpmn_through_the_zeebe_gateway_is_refused_the_same_way(node) -> None:
    """DeployResource takes another path in than REST: the same parser limits apply."""
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        + HEAD.split("\n", 1)[1]
        + '<bpmn:process id="x" name="&x;"/>'
        + TAIL
    )
    deep = bpmn("<bpmn:task>" * 10_000 + "</bpmn:task>" * 10_000, "deep")
    big = bpmn("<bpmn:documentation>" + "x" * (2 * 1024 * 1024) + "</bpmn:documentation>", "big")
    address = f"127.0.0.1:{node.node.config.ports.grpc}"

    async def deploy_all() -> list[tuple[grpc.StatusCode, str]]:
        results = []
        async with grpc.aio.insecure_channel(address) as channel:
            stub = gw_grpc.GatewayStub(channel)
            for name, xml in (("xxe.bpmn", xxe), ("deep.bpmn", deep), ("big.bpmn", big)):
                request = gw.DeployResourceRequest(
                    resources=[gw.Resource(name=name, content=xml.encode())]
                )
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.DeployResource(request, timeout=TIMEOUT_S)
                results.append((refused.value.code(), refused.value.details()))
        return results

    started = time.monotonic()
    results = asyncio.run(deploy_all())
    assert time.monotonic() - started < 3 * FAST_S
    assert [code for code, _ in results] == [grpc.StatusCode.INVALID_ARGUMENT] * 3, results
    assert "root:" not in " ".join(details for _, details in results)
