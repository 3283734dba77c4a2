"""The REST API (FastAPI): `/v1/...`, OpenAPI at `/v1/openapi.json`, docs at `/v1/docs`
(Swagger UI served from the package, `api/console`), and the web console at `/console`.

`create_app(service, config, metrics)` builds the app around the service façade; the node
serves it with uvicorn on its own asyncio loop. Handlers only translate HTTP to calls of
`zennode.service.Service`; errors are mapped in `errors.py`. A new route: a handler in the
module of its resource, calling one façade method.
"""

from __future__ import annotations

from fastapi import FastAPI

from zennode.api.auth import install_rest_auth
from zennode.api.console import install_console
from zennode.api.rest import (
    cluster,
    decisions,
    definitions,
    deployments,
    incidents,
    instances,
    jobs,
    messages,
    modify,
    signals,
    system,
)
from zennode.api.rest.errors import BodyLimitMiddleware, install_error_handlers
from zennode.api.rest.models import ErrorBody
from zennode.config import Config
from zennode.metrics import NodeMetrics
from zennode.service import Service

API_VERSION = "1.0.0"

_ERRORS = {
    400: {"model": ErrorBody, "description": "Bad input"},
    404: {"model": ErrorBody, "description": "Unknown key"},
    409: {"model": ErrorBody, "description": "Wrong state"},
    413: {"model": ErrorBody, "description": "Payload over a configured limit"},
    503: {"model": ErrorBody, "description": "No leader yet, or backpressure"},
}


def create_app(service: Service, config: Config, metrics: NodeMetrics | None = None) -> FastAPI:
    limits = config.limits
    app = FastAPI(
        title="zennode",
        version=API_VERSION,
        description="A clustered BPMN 2.0 process engine. Keys are 64-bit integers with the "
        "owning partition in the high bits.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # served by install_console with the vendored Swagger UI: no CDN
        redoc_url=None,
        responses=_ERRORS,
        # operationId = the handler's name (deploy, list_jobs, ...): readable generated clients
        generate_unique_id_function=lambda route: route.name,
        # No OpenTelemetry (metrics are Prometheus, /metrics): with it on, FastAPI asks the
        # OTel API on every request whether a tracer, meter or logger provider was set up.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.request_bytes_max)
    install_rest_auth(app, config)  # outermost: refuse before reading a body
    instances_router = instances.router(service, limits.page_size_max)
    jobs_router = jobs.router(service, limits.page_size_max)
    # The hot routes (start an instance, complete a job) are matched first: FastAPI tries the
    # routes in order, and reaching the create route through those of the definition and
    # decision routers was ~16 % of a create's time in the REST stack. Hidden from the
    # document here; each router is documented in its place below, so the OpenAPI document
    # (paths and tags in this order) stays as it was.
    app.include_router(instances_router, include_in_schema=False)
    app.include_router(jobs_router, include_in_schema=False)
    app.include_router(definitions.router(service, limits.page_size_max))
    app.include_router(decisions.router(service, limits.page_size_max))
    app.include_router(deployments.router(service))
    app.include_router(instances_router)
    app.include_router(modify.router(service))
    app.include_router(jobs_router)
    app.include_router(incidents.router(service, limits.page_size_max))
    app.include_router(system.router(service))
    app.include_router(messages.router(service))
    app.include_router(signals.router(service))
    app.include_router(cluster.router(service))
    install_console(app, openapi_url="/v1/openapi.json")
    if metrics is not None:
        from zennode.api import metrics as metrics_api

        app.include_router(metrics_api.router(metrics))
    return app
