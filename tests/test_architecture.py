"""Checks that keep the layout as docs/architecture.md describes it.

- The import-linter contracts in pyproject.toml hold: layers import only downwards, runtime
  modules never import `zennode.tools`, API modules import no command records, queries or
  storage (they call the service façade), the engine core imports no sockets, threads,
  clocks, randomness, storage or RPC.
- mypy finds no error in the replicated core (`zennode/engine`, `cluster`, `state`).
- Outside the engine, commands are built as typed records (`zennode.engine.commands`), never
  as dict literals: one module (`commands/wire.py`) owns the wire form.
- No module takes an untyped `node: Any`: the layers depend on `ClusterClient`, `Service`.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from zennode.engine.commands.wire import RECORDS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "zennode"
ENGINE = PACKAGE / "engine"


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """A checker from this environment's bin directory, run in the repository root."""
    return subprocess.run(
        [str(Path(sys.executable).parent / args[0]), *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_import_contracts_hold() -> None:
    result = run_tool("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_the_replicated_core_type_checks() -> None:
    result = run_tool("mypy")  # files and settings: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_no_module_takes_an_untyped_node() -> None:
    untyped = re.compile(r"\bnode: Any\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in runtime_sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if untyped.search(line)
    ]
    assert not offenders, "depend on ClusterClient / Service, not on Node:\n" + "\n".join(offenders)


def runtime_sources() -> list[Path]:
    """Every hand-written module of the package (generated protobuf code left out)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "proto" not in p.relative_to(PACKAGE).parts)


def _command_type(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in RECORDS:
        return node.value
    return None


def command_dicts(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, command type) of every dict that spells a command by hand."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "type":
                    kind = _command_type(value)
                    if kind:
                        found.append((node.lineno, kind))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "dict":
                for keyword in node.keywords:
                    kind = _command_type(keyword.value) if keyword.arg == "type" else None
                    if kind:
                        found.append((node.lineno, kind))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.slice, ast.Constant)
                    and target.slice.value == "type"
                    and _command_type(node.value)
                ):
                    found.append((node.lineno, str(_command_type(node.value))))
    return sorted(found)


def test_the_scan_finds_hand_built_commands() -> None:
    code = (
        'a = {"type": "complete_job", "jobKey": 1}\n'
        'b = dict(type="fail_job", jobKey=2)\n'
        'c = {}\nc["type"] = "timeout_jobs"\n'
        'd = {"type": "http.response.start"}\n'  # not a command: an ASGI message
    )
    found = command_dicts(ast.parse(code))
    assert found == [(1, "complete_job"), (2, "fail_job"), (4, "timeout_jobs")]


def test_no_command_dict_is_built_outside_the_engine() -> None:
    offenders = []
    for path in runtime_sources():
        if path.is_relative_to(ENGINE):
            continue
        for line, kind in command_dicts(ast.parse(path.read_text(), filename=str(path))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: a {kind!r} dict")
    assert not offenders, (
        "build commands as records (zennode.engine.commands), not dicts:\n" + "\n".join(offenders)
    )
