"""After a fault run: what the cluster holds, read through the REST API, against what the load
was told. Every instance is read from the list endpoints (all partitions), not only the
acknowledged ones, so an unacknowledged creation that did happen is checked too.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from faults.load import PROCESS_ID

PAGE_SIZE = 100
PAGES_MAX = 1_000


@dataclass
class Report:
    instances: int = 0
    completed: int = 0
    not_completed: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # acknowledged, missing
    double_applied: list[int] = field(default_factory=list)  # steps != 2 or extra jobs
    jobs: int = 0


def _all_pages(http: httpx.Client, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(1, PAGES_MAX + 1):
        response = http.get(url, params={**params, "page": page, "size": PAGE_SIZE})
        response.raise_for_status()
        body = response.json()
        got = [item for part in body["partitions"] for item in part["items"]]
        items += got
        if not got:
            return items
    raise AssertionError(f"more than {PAGES_MAX} pages at {url}")


def wait_all_completed(http: httpx.Client, url: str, timeout_s: float) -> None:
    """Until no instance of the load is active (bounded); the checks then see the end state."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            active = _all_pages(http, f"{url}/v1/jobs", {"state": "active"})
            activated = _all_pages(http, f"{url}/v1/jobs", {"state": "activated"})
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        if not active and not activated:
            return
        time.sleep(0.5)


def check(
    http: httpx.Client,
    url: str,
    acked: set[int],
    process_id: str = PROCESS_ID,
    elements: tuple[str, ...] = ("a", "b"),
) -> Report:
    """Every instance of `process_id`: completed, `steps` == one per job, exactly the jobs of
    `elements` all completed (nothing applied twice), and every acknowledged one present."""
    report = Report()
    instances = _all_pages(http, f"{url}/v1/process-instances", {})
    jobs = _all_pages(http, f"{url}/v1/jobs", {})
    jobs_by_instance: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        jobs_by_instance[int(job["processInstanceKey"])].append(job)
    seen = set()
    for instance in instances:
        if instance.get("bpmnProcessId") != process_id:
            continue
        key = int(instance["processInstanceKey"])
        seen.add(key)
        report.instances += 1
        if instance["state"] != "completed":
            report.not_completed.append(key)
            continue
        report.completed += 1
        own = jobs_by_instance.get(key, [])
        own_elements = sorted(job["elementId"] for job in own)
        states = {job["state"] for job in own}
        if (
            instance["variables"].get("steps") != len(elements)
            or own_elements != sorted(elements)
            or states != {"completed"}
        ):
            report.double_applied.append(key)
    report.jobs = len(jobs)
    report.lost = sorted(acked - seen)
    return report
