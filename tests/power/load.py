"""Load for the power-loss suite: instances, job completions and messages, each of which is
recorded when the cluster acknowledges it, so that a power loss cannot hide a lost one.

The model: start -> service task `a` (SDK workers, tests/faults/load.py) -> message catch
`go` (correlation key: the instance's `key` variable) -> service task `b` (completed over
REST) -> end; each job adds 1 to `steps`. The creators are tests/faults/load.py's.

- `Completer` completes `b` jobs over REST; a 204 is an acknowledged completion, never sent
  again: if it were lost, the job would stay active and its instance unfinished.
- `Publisher` publishes `go` for every creation attempt's correlation key (before or after
  the instance reaches the catch: it is buffered); a 201 is an acknowledged message, never
  published again: if it were lost, its instance would wait at the catch for ever.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx

PROCESS_ID = "power-flow"
JOB_A, JOB_B = "power-a", "power-b"
MESSAGE = "go"
REQUEST_TIMEOUT_S = 5.0
SCAN_PAUSE_S = 0.2
PAGES_MAX = 50
PAGE_SIZE = 100

MODEL = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="power">
  <bpmn:message id="msg" name="{MESSAGE}">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=key"/>
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="{PROCESS_ID}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="a"/>
    <bpmn:serviceTask id="a">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{JOB_A}" retries="100"/>
        <zeebe:ioMapping><zeebe:output source="=steps + 1" target="steps"/></zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:messageEventDefinition messageRef="msg"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="b"/>
    <bpmn:serviceTask id="b">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{JOB_B}" retries="100"/>
        <zeebe:ioMapping><zeebe:output source="=steps + 1" target="steps"/></zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f4" sourceRef="b" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def new_variables() -> dict[str, Any]:
    return {"steps": 0, "key": uuid.uuid4().hex}


def _items(http: httpx.Client, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(1, PAGES_MAX + 1):
        response = http.get(url, params={**params, "page": page, "size": PAGE_SIZE})
        response.raise_for_status()
        got = [item for part in response.json()["partitions"] for item in part["items"]]
        items += got
        if not got:
            break
    return items


class _Loop:
    """A thread that runs `step` against a random live node until stopped."""

    def __init__(self, urls: dict[int, str], seed: int, name: str) -> None:
        self.urls = urls
        self.down: set[int] = set()
        self.errors: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=4 * REQUEST_TIMEOUT_S)

    def _run(self) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as http:
            while not self._stop.is_set():
                live = [n for n in self.urls if n not in self.down] or list(self.urls)
                url = self.urls[self._rng.choice(live)]
                try:
                    self.step(http, url)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    with self.lock:
                        self.errors[type(exc).__name__] += 1
                self._stop.wait(SCAN_PAUSE_S)

    def step(self, http: httpx.Client, url: str) -> None:
        raise NotImplementedError


class Completer(_Loop):
    """Completes every active `b` job over REST; remembers the acknowledged ones."""

    def __init__(self, urls: dict[int, str], seed: int = 0) -> None:
        super().__init__(urls, seed, "completer")
        self.acked: set[int] = set()

    def step(self, http: httpx.Client, url: str) -> None:
        for job in _items(http, f"{url}/v1/jobs", {"state": "active", "jobType": JOB_B}):
            key = int(job["key"])
            if key in self.acked or self._stop.is_set():
                continue
            response = http.post(f"{url}/v1/jobs/{key}/complete", json={"variables": {}})
            with self.lock:
                if response.status_code == 204:
                    self.acked.add(key)
                else:
                    self.errors[str(response.status_code)] += 1


class Publisher(_Loop):
    """Publishes `go` (time to live 1 h: it waits for its instance) for the correlation key of
    every creation attempt, acknowledged or not; a key acknowledged (201, or 409: a buffered
    copy exists) is never published again."""

    PER_STEP = 50

    def __init__(self, urls: dict[int, str], seed: int = 0) -> None:
        super().__init__(urls, seed, "publisher")
        self.pending: list[str] = []
        self.acked: set[str] = set()

    def variables(self) -> dict[str, Any]:
        """The creators' variables factory: every attempt's key gets its message."""
        variables = new_variables()
        with self.lock:
            self.pending.append(variables["key"])
        return variables

    def step(self, http: httpx.Client, url: str) -> None:
        with self.lock:
            batch = self.pending[: self.PER_STEP]
        for key in batch:
            body = {"messageName": MESSAGE, "correlationKey": key, "timeToLive": 3_600_000}
            response = http.post(f"{url}/v1/messages", json={**body, "messageId": key})
            with self.lock:
                if response.status_code in (201, 409):
                    self.acked.add(key)
                    self.pending.remove(key)
                else:
                    self.errors[str(response.status_code)] += 1


def lost_completions(http: httpx.Client, url: str, acked: set[int]) -> list[int]:
    """Acknowledged completions whose job is not completed."""
    lost = []
    for key in sorted(acked):
        response = http.get(f"{url}/v1/jobs/{key}")
        if response.status_code != 200 or response.json().get("state") != "completed":
            lost.append(key)
    return lost


def lost_messages(
    http: httpx.Client, url: str, acked: set[str], instances: dict[int, dict[str, Any]]
) -> list[str]:
    """Acknowledged messages of acknowledged instances whose instance never got past the
    catch (it would still be active). `instances`: instance key -> its variables."""
    lost = []
    for instance_key, variables in sorted(instances.items()):
        correlation_key = variables["key"]
        if correlation_key not in acked:
            continue
        response = http.get(f"{url}/v1/process-instances/{instance_key}")
        if response.status_code != 200 or response.json().get("state") != "completed":
            lost.append(correlation_key)
    return lost


def wait_until_done(http: httpx.Client, url: str, timeout_s: float) -> None:
    """Until every instance of the model ended (bounded): the checks then see the end."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            instances = _items(http, f"{url}/v1/process-instances", {})
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        ours = [i for i in instances if i.get("bpmnProcessId") == PROCESS_ID]
        if all(i["state"] != "active" for i in ours):
            return
        time.sleep(0.5)
