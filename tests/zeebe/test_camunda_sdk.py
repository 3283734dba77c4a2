"""The Camunda 8 Node.js SDK (@camunda8/sdk from npm, unmodified) against a 3-node cluster.

Optional, as the issue allows: skipped when node/npm are missing or the package does not
install; when it installs, it must pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from zeebe_installs import install_dir
from zeebe_models import service_task, unique

pytestmark = pytest.mark.timeout(300)

SDK_PACKAGE = "@camunda8/sdk@8.8.13"
NPM_TIMEOUT_S = 240
FLOW = Path(__file__).with_name("camunda_sdk_flow.js")


@pytest.fixture(scope="session")
def camunda_sdk(request: pytest.FixtureRequest) -> Path:
    """A folder whose node_modules holds the SDK (installed once into the pytest cache)."""
    directory = install_dir(request, "camunda8-sdk-8.8.13")
    if (directory / "node_modules" / "@camunda8" / "sdk" / "package.json").is_file():
        return directory
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node / npm are not installed")
    try:
        done = subprocess.run(
            [npm, "install", SDK_PACKAGE, "--prefix", str(directory), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {SDK_PACKAGE} took over {NPM_TIMEOUT_S} s")
    if done.returncode != 0:
        pytest.skip(f"npm install {SDK_PACKAGE} failed: {done.stderr[-500:]}")
    return directory


def test_camunda_node_sdk_worker_and_client(
    camunda_sdk: Path, cluster3: dict, tmp_path: Path
) -> None:
    process_id, job_type = unique("sdk"), unique("sdk-job")
    bpmn = tmp_path / "sdk.bpmn"
    bpmn.write_text(service_task(process_id, job_type))
    done = subprocess.run(
        [
            shutil.which("node") or "node",
            str(FLOW),
            cluster3["nodes"][1]["grpc"],
            str(bpmn),
            process_id,
            job_type,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=camunda_sdk,
        env={**os.environ, "NODE_PATH": str(camunda_sdk / "node_modules")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert (seen["brokers"], seen["partitions"]) == (3, 3)
    assert seen["deployed"] == [process_id]
    assert [r["doubled"] for r in seen["results"]] == [2, 4, 6]
    assert all(r["region"] == "eu" for r in seen["results"])
