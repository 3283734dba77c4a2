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
