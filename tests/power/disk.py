"""A disk that can lose power, for tests: one lazyfs (tests/power/lazyfs.py) FUSE mount.

    disk = PowerDisk(tmp_path / "node1", mountpoint=data_dir)   # or tmp_path/node1/mnt
    disk.mount()                 # disk.path is the mount point: put a node's data dir there
    ...                          # SIGKILL every process using it, then:
    disk.lose_power()            # drop what was not fsync'd, unmount, mount again
    disk.unmount()

If FUSE cannot be mounted (no /dev/fuse, no fusermount3, no mfusepy) `mount` raises: a
power-loss test must fail then, never skip (scripts/install-test-deps installs fuse3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LAZYFS = Path(__file__).with_name("lazyfs.py")
MOUNT_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 30.0


class PowerDisk:
    def __init__(self, base: Path, mountpoint: Path | None = None) -> None:
        self.base = Path(base)
        self.backing = self.base / "disk"
        self.trash = self.base / "trash"
        self.path = Path(mountpoint) if mountpoint is not None else self.base / "mnt"
        self.log = self.base / "lazyfs.log"
        self.power_losses: list[dict[str, int]] = []
        self._proc: subprocess.Popen[str] | None = None

    def mount(self) -> None:
        if not os.path.exists("/dev/fuse"):
            raise RuntimeError("/dev/fuse is missing: the power-loss bench needs FUSE")
        if shutil.which("fusermount3") is None:
            raise RuntimeError("fusermount3 is missing: apt-get install fuse3 libfuse3-3")
        for directory in (self.backing, self.trash, self.path):
            directory.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            self._proc = subprocess.Popen(
                [sys.executable, str(LAZYFS), str(self.backing), str(self.trash), str(self.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not os.path.ismount(self.path):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._stop_process()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"lazyfs did not mount {self.path}:\n{tail}")
            time.sleep(0.05)

    def command(self, line: str) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise RuntimeError("lazyfs is not mounted")
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        answer = proc.stdout.readline()  # the daemon answers every line at once
        if not answer:
            raise RuntimeError(f"lazyfs ended without answering {line!r}")
        result = json.loads(answer)
        if not result.get("ok"):
            raise RuntimeError(f"lazyfs refused {line!r}: {result}")
        return result

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def lose_power(self) -> dict[str, int]:
        """Drop every write, creation, rename and truncation not made durable, then mount the
        same disk again (fresh kernel caches). Every process using it must be dead already."""
        undone = self.command("power-loss")["undone"]
        self.power_losses.append(undone)
        self.unmount()
        self.mount()
        return undone

    def unmount(self) -> None:
        if self._proc is None:
            return
        started = time.monotonic()
        deadline = started + COMMAND_TIMEOUT_S
        while os.path.ismount(self.path):
            lazy = ["-z"] if time.monotonic() > started + 3 else []  # still busy: detach
            subprocess.run(["fusermount3", "-u", *lazy, str(self.path)], capture_output=True)
            if time.monotonic() > deadline:
                break
            if os.path.ismount(self.path):
                time.sleep(0.1)
        self._stop_process()

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
