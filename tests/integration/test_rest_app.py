"""The REST app's per-request work, in process (no server, no node): what runs on every
request is only what the API needs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from zennode.api.rest import create_app
from zennode.config import default_config


def test_requests_do_not_consult_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    # FastAPI's native OpenTelemetry asks the OTel API on every request whether a tracer,
    # meter or logger provider was set up; zennode exports Prometheus metrics, not OTel, so
    # create_app turns it off and a request never reaches the OTel API.
    from opentelemetry import _logs, metrics, trace

    asked: list[str] = []

    def recording(name: str, real: Any) -> Any:
        def provider() -> Any:
            asked.append(name)
            return real()

        return provider

    for module, name in ((trace, "get_tracer_provider"), (metrics, "get_meter_provider")):
        monkeypatch.setattr(module, name, recording(name, getattr(module, name)))
    monkeypatch.setattr(
        _logs, "get_logger_provider", recording("logger", _logs.get_logger_provider)
    )
    app = create_app(service=None, config=default_config())  # type: ignore[arg-type]

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await client.get("/v1/no-such-route")

    response = asyncio.run(call())
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert asked == []


class CreatingService:
    """Just enough of the service façade for `POST /v1/process-instances`."""

    async def create_instance(self, **_: Any) -> dict[str, Any]:
        return {
            "processInstanceKey": 2251799813685249,
            "processDefinitionKey": 2251799813685248,
            "bpmnProcessId": "p",
            "version": 1,
        }


def test_a_create_is_matched_without_trying_the_definition_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # FastAPI tries routes in order; the instance and job routes are tried first, while the
    # OpenAPI document keeps the definitions first and lists every path once.
    from fastapi.routing import APIRoute

    tried: list[str] = []
    matches = APIRoute.matches

    def recording(route: APIRoute, scope: Any) -> Any:
        tried.append(route.path)
        return matches(route, scope)

    monkeypatch.setattr(APIRoute, "matches", recording)
    app = create_app(service=CreatingService(), config=default_config())  # type: ignore[arg-type]

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await client.post("/v1/process-instances", json={"bpmnProcessId": "p"})

    response = asyncio.run(call())
    assert response.status_code == 201 and response.json()["bpmnProcessId"] == "p"
    assert set(tried) == {"/v1/process-instances"}, tried  # FastAPI asks it twice
    paths = list(app.openapi()["paths"])
    assert paths[0].startswith("/v1/process-definitions")
    assert paths.count("/v1/process-instances") == 1
