"""The console and the API docs as a node serves them: from the package, without a token for
the static files (they hold no data), and with no URL that points off the machine."""

from __future__ import annotations

import dataclasses
import http.client
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from support.nodes import NodeThread

from zennode.config import Config

STATIC = Path(__file__).resolve().parents[2] / "zennode" / "api" / "console" / "static"
EXTERNAL = re.compile(r"https?://", re.I)
TOKEN = "console-test-token"


def with_token(config: Config) -> Config:
    return dataclasses.replace(config, auth=dataclasses.replace(config.auth, tokens=[TOKEN]))


def own_files() -> list[Path]:
    """The console's own files (not the vendored libraries)."""
    vendor = STATIC / "vendor"
    return sorted(p for p in STATIC.rglob("*") if p.is_file() and vendor not in p.parents)


def test_console_files_are_served_from_the_package(
    start_node: Callable[..., NodeThread],
) -> None:
    runner = start_node()
    with httpx.Client(base_url=runner.url, timeout=10) as web:
        moved = web.get("/console")
        assert moved.status_code == 307 and moved.headers["location"] == "/console/"
        index = web.get("/console/")
        assert index.status_code == 200 and "text/html" in index.headers["content-type"]
        assert "zennode console" in index.text
        for path in own_files():
            served = web.get(f"/console/{path.relative_to(STATIC)}")
            assert served.status_code == 200, path
            assert served.content == path.read_bytes(), path
        bundle = web.get("/console/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
        assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
        missing = web.get("/console/no-such-file.js")
        assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"


def test_static_files_need_no_token_but_the_data_does(
    start_node: Callable[..., NodeThread],
) -> None:
    runner = start_node(configure=with_token)
    with httpx.Client(base_url=runner.url, timeout=10) as web:
        assert web.get("/console/").status_code == 200
        assert web.get("/console/js/api.js").status_code == 200
        assert web.get("/console/vendor/swagger-ui/swagger-ui.css").status_code == 200
        assert web.get("/v1/jobs").status_code == 401
        assert web.get("/v1/docs").status_code == 401
        authed = {"authorization": f"Bearer {TOKEN}"}
        assert web.get("/v1/jobs", headers=authed).status_code == 200
    # a path that climbs out of /console/ (sent as is: httpx would tidy it) reaches no route
    # and no file without a token
    host, port = runner.url.removeprefix("http://").split(":")
    for sneaky in ("/console/../v1/jobs", "/console/%2e%2e/v1/jobs", "/console/..%2fv1/jobs"):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", sneaky)
            answer = connection.getresponse()
            body = answer.read().decode()
        finally:
            connection.close()
        assert answer.status in (400, 404), (sneaky, answer.status, body)
        assert "partitions" not in body


def test_nothing_served_points_off_the_machine(start_node: Callable[..., NodeThread]) -> None:
    """The console's own HTML, JS and CSS and the /v1/docs page name no http(s) URL at all; the
    vendored CSS loads nothing by URL. (The vendored bundles' strings — XML namespaces, links
    in error texts — are not loads: the browser tests refuse and count any request that leaves
    127.0.0.1.)"""
    for path in own_files():
        if path.suffix in (".html", ".js", ".css"):
            assert not EXTERNAL.search(path.read_text()), path
    for css in (STATIC / "vendor").rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", css.read_text()):
            assert url.startswith("data:"), (css, url[:80])
    runner = start_node()
    with httpx.Client(base_url=runner.url, timeout=10) as web:
        docs = web.get("/v1/docs")
        assert docs.status_code == 200
        assert not EXTERNAL.search(docs.text), docs.text
        for asset in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
            assert asset.startswith("/console/vendor/swagger-ui/"), asset
            assert web.get(asset).status_code == 200, asset
        schema = web.get("/v1/openapi.json").json()
        assert "/console" not in " ".join(schema["paths"]), "static files are not API operations"
