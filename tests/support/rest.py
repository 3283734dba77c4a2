"""`RestClient`: the one HTTP client tests talk to nodes with.

An `httpx.Client` whose `call` retries, for a bounded time, what a client of zennode may retry
without risking a second effect: 503 (the command was certainly not applied: no leader yet,
backpressure) and, with `retry_gone=True`, a node that does not answer at all (killed by the
test). Anything else — 4xx, 2xx, another 5xx — is returned at once for the test to assert on.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

TIMEOUT_S = 15.0  # one request
RETRY_S = 15.0  # retries of one call, in all
RETRY_PAUSE_S = 0.1


class RestClient(httpx.Client):
    """`httpx.Client` plus `call` (retries 503); plain `get`/`post`/... never retry."""

    def __init__(self, base_url: str = "", timeout: float = TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(base_url=base_url, timeout=timeout, **kwargs)

    def call(
        self,
        method: str,
        url: str,
        *,
        retry_s: float = RETRY_S,
        retry_gone: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """`request(method, url)`, retried on 503 (and on a connection error with
        `retry_gone`) until `retry_s` has passed; then the last 503 is returned (or the last
        connection error raised)."""
        deadline = time.monotonic() + retry_s
        while True:
            try:
                response = self.request(method, url, **kwargs)
            except httpx.TransportError:
                if not retry_gone or time.monotonic() > deadline:
                    raise
            else:
                if response.status_code != 503 or time.monotonic() > deadline:
                    return response
            time.sleep(RETRY_PAUSE_S)
