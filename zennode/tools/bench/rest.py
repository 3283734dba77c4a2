"""`scripts/bench rest`: CPU per request of the REST stack alone, in one process.

The node and cluster benchmarks cannot resolve a change of a few tens of µs per request: a
create costs ~0.2 ms in the REST stack and an instance 1.8 – 5 ms of node CPU, on a machine
whose load moves those numbers by more than that. This calls the app `create_app` builds (the
middleware, routing, validation and serialisation a node runs) directly as ASGI, with a stub
service that answers at once, and reports the process CPU time per request for the hot routes:
`POST /v1/process-instances` and `POST /v1/jobs/{key}/complete`. No sockets, no uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from zennode.config import default_config

WARMUP = 500  # requests before timing (imports, first-request caches)
INSTANCE = {
    "processInstanceKey": 2251799813685249,
    "processDefinitionKey": 2251799813685248,
    "bpmnProcessId": "bench",
    "version": 1,
}


class StubService:
    """The two façade methods the timed routes call, answering at once."""

    async def create_instance(self, **_: Any) -> dict[str, Any]:
        return dict(INSTANCE)

    async def complete_job(self, *_: Any, **__: Any) -> dict[str, Any]:
        return {}


def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def _time_route(app: Any, path: str, payload: Any, status: int, requests: int) -> float:
    """µs of process CPU per request; each answer must carry `status`."""
    body = json.dumps(payload).encode()
    scope = _scope(path, body)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def one() -> None:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        if sent[0]["status"] != status:
            raise RuntimeError(f"{path} answered {sent[0]['status']}: {sent[1:]}")

    for _ in range(WARMUP):
        await one()
    started = time.process_time()
    for _ in range(requests):
        await one()
    return round((time.process_time() - started) / requests * 1e6, 1)


def run(requests: int) -> dict[str, Any]:
    from zennode.api.rest import create_app

    app = create_app(StubService(), default_config())  # type: ignore[arg-type]

    async def both() -> dict[str, Any]:
        create = {"bpmnProcessId": "bench", "variables": {"n": 1}}
        complete = {"variables": {"done": True}}
        return {
            "create_instance_us": await _time_route(
                app, "/v1/process-instances", create, 201, requests
            ),
            "complete_job_us": await _time_route(
                app, "/v1/jobs/2251799813685250/complete", complete, 204, requests
            ),
        }

    return {"benchmark": "rest", "requests": requests, **asyncio.run(both())}
