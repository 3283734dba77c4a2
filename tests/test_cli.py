"""CLI: help text, and configuration errors exit 2 with one clear line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.nodes import NodeProcess
from support.ports import reserve_node

from zennode.cli import main


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zennode.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_every_option() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    assert "start" in top.output
    start = runner.invoke(main, ["start", "--help"])
    assert start.exit_code == 0
    for option in ("--config", "--data-dir", "--port-base", "--log-format"):
        assert option in start.output
    assert "HTTP N" in start.output and "N+10" in start.output


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zennode: configuration error: ")
    assert needle in lines[0]


def test_unknown_key_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("partitions: 1\nreplicaton_factor: 3\n")
    assert_one_line_exit_2(run_cli("start", "--config", str(config)), "replicaton_factor")


def test_wrong_type_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("partitions: many\n")
    assert_one_line_exit_2(run_cli("start", "--config", str(config)), "partitions")


def test_unwritable_data_dir_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    base = str(reserve_node(1).base)  # the data dir is checked before any port is bound
    result = run_cli("start", "--data-dir", str(blocker / "data"), "--port-base", base)
    assert_one_line_exit_2(result, "data_dir")


def test_port_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("start", "--data-dir", str(tmp_path / "d"), "--port-base", str(port))
    assert_one_line_exit_2(result, f"port {port} (http)")


@pytest.mark.parametrize("value", ["abc", "0"])
def test_bad_port_base_is_a_usage_error(value: str) -> None:
    result = run_cli("start", "--port-base", value)
    assert result.returncode == 2


def test_json_logs_and_clean_exit_on_sigint(tmp_path: Path) -> None:
    """`--log-format json` logs one JSON object per line; Ctrl-C (SIGINT) exits 0."""
    with NodeProcess(tmp_path / "d", tmp_path / "node.log", "--log-format", "json") as node:
        returncode = node.stop(signal.SIGINT, timeout_s=20)
    output = node.output()  # `zennode start` writes only logs (stderr), nothing to stdout
    assert returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    assert any("stopped" in e["message"] for e in lines)
