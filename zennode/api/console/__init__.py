"""The web console at `/console` and the offline API docs at `/v1/docs`.

The console is a static single-page app (plain ES modules in `static/`, no build step): the
browser loads it from the node and then calls the same REST API as any client, with the same
bearer token when auth is on (entered once, kept in the browser's localStorage). The static
files hold no data, so they are served without a token (`CONSOLE_PREFIX` is exempt in
`api/auth.py`); every data request still needs one.

Front-end libraries (bpmn-js for diagrams, swagger-ui for `/v1/docs`) are vendored into
`static/vendor/` by `scripts/vendor-console` and committed: nothing loads from a CDN, so the
console and the docs work on an offline or air-gapped machine.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

CONSOLE_PREFIX = "/console"
STATIC_DIR = Path(__file__).parent / "static"
DOCS_PATH = "/v1/docs"
_SWAGGER = f"{CONSOLE_PREFIX}/vendor/swagger-ui"


def install_console(app: FastAPI, openapi_url: str) -> None:
    """Serve the console under `/console/` and Swagger UI at `/v1/docs` from the package."""

    @app.get(CONSOLE_PREFIX, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=307)

    app.mount(CONSOLE_PREFIX, StaticFiles(directory=STATIC_DIR, html=True), name="console")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title="zennode API",
            swagger_js_url=f"{_SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{_SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{_SWAGGER}/favicon-32x32.png",
            # no badge that asks the public validator.swagger.io about our document
            swagger_ui_parameters={"validatorUrl": None},
        )
