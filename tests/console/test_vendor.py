"""The vendored front-end libraries are the pinned ones, with their licences, and untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "zennode" / "api" / "console" / "static"
VENDOR = STATIC / "vendor"


def test_vendored_files_match_their_checksum_list() -> None:
    """`scripts/vendor-console --check`: every listed file exists with its sha256, and no file
    is in vendor/ that the script did not put there."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "vendor-console"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed = (VENDOR / "CHECKSUMS.sha256").read_text()
    for name in (
        "bpmn-js/bpmn-navigated-viewer.production.min.js",
        "bpmn-js/bpmn-js.css",
        "bpmn-js/diagram-js.css",
        "swagger-ui/swagger-ui-bundle.js",
        "swagger-ui/swagger-ui.css",
    ):
        assert f"  {name}\n" in listed, name


def test_licences_are_shipped_with_the_libraries() -> None:
    bpmn_licence = (VENDOR / "bpmn-js" / "LICENSE").read_text()
    assert "Camunda Services GmbH" in bpmn_licence
    assert "watermark" in bpmn_licence
    assert "Apache License" in (VENDOR / "swagger-ui" / "LICENSE").read_text()
    assert (VENDOR / "swagger-ui" / "NOTICE").is_file()
    for library in ("bpmn-js", "swagger-ui"):
        assert (VENDOR / library / "VERSION").read_text().count("@") == 1


def test_the_console_never_touches_the_bpmn_io_watermark() -> None:
    """bpmn-js's licence: the watermark stays visible, so nothing of ours styles or removes
    it (its class is `bjs-powered-by`)."""
    own = [p for p in STATIC.rglob("*") if p.is_file() and VENDOR not in p.parents]
    assert own, "the console's own files are missing"
    for path in own:
        if path.suffix in (".js", ".css", ".html"):
            assert "powered-by" not in path.read_text(), path
