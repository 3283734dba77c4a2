"""Making file-system changes durable: the one place that fsyncs a file or a directory by name.

A rename, a creation or an unlink is on disk only once its directory is synced; file data
only once the file is. Used by the LMDB snapshot swap, the snapshot codec and the Raft log.
"""

from __future__ import annotations

import os


def fsync_file(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
