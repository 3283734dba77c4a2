"""A job manager's worker sink for tests that drive `JobManager` without streams."""

from __future__ import annotations

from typing import Any


class Sink:
    """Records the jobs a manager pushes to `worker_id`; `accepts=False` refuses every push
    (a worker whose stream is gone or full)."""

    def __init__(self, worker_id: str, accepts: bool = True) -> None:
        self.worker_id = worker_id
        self.accepts = accepts
        self.jobs: list[dict[str, Any]] = []

    def deliver(self, job: dict[str, Any]) -> bool:
        if self.accepts:
            self.jobs.append(job)
        return self.accepts
