"""Browser fixtures for the console tests: Playwright driving Debian's Chromium.

Playwright's own browser download is not available (and not wanted) here: the tests launch
`/usr/bin/chromium`, which scripts/install-test-deps installs. Without it the tests FAIL: a
console that was never opened in a browser is not tested.

Every page records the requests the browser makes; any request to an address other than
127.0.0.1 is refused (never sent) and fails the test: the console and the API docs must work
offline, with nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 15_000  # one wait for something on the page


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-test-deps (apt-get chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


class Page:
    """A browser page plus what it tried to reach outside 127.0.0.1 and its script errors."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.external: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        scheme, host = urlsplit(url).scheme, urlsplit(url).hostname
        if scheme in ("http", "https") and host != "127.0.0.1":
            self.external.append(url)
            route.abort()
        else:
            route.continue_()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (own context: own localStorage); after the test, no request left
    127.0.0.1 and no script error was thrown."""
    holder = Page(browser)
    yield holder.page
    holder.close()
    assert holder.external == [], f"the browser tried to load from outside: {holder.external}"
    assert holder.errors == [], f"script errors on the page: {holder.errors}"
