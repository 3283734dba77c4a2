"""A FUSE file system that can lose power: what was not fsync'd is gone (like Jepsen's lazyfs).

Every operation is applied at once to a backing directory, so reads see everything (the page
cache, as a process sees it). Alongside, the file system remembers how to undo what is not
yet durable, and on "power loss" it undoes it:

- **File data and size**: before a write or truncation changes a 4 KiB block of a file that
  is durable, the block's old content is kept (and the file's durable size). `fsync` or
  `fdatasync` of the file (an `msync` arrives as one) makes it durable: the old blocks are
  dropped. A power loss writes them back and cuts the file to its durable size.
- **Names** (create, mkdir, unlink, rmdir, rename, link, symlink): an ordered log of undo
  records. An unlinked or replaced file is moved to a trash directory, not deleted, so it
  can come back. A directory `fsync` makes the whole log durable (as a journaling file system
  commits every earlier metadata operation with it); `fsync` of a file whose creation is
  still pending makes the log durable up to that creation (ext4 does the same), so a file
  created, written and synced survives without a directory sync — but a rename, an unlink or
  another file's creation after it does not.

Locks (`fcntl`, `flock`) are not implemented here on purpose: without a lock operation FUSE
lets the kernel arbitrate them between processes, exactly as on a local disk (LMDB's
lock.mdb relies on that).

Run as a process: `python lazyfs.py BACKING TRASH MOUNTPOINT`. It reads commands on stdin,
one per line, and answers one JSON line each: `power-loss` (undo everything not durable;
every process using the mount must be dead by then: call it, then unmount), `stats`.
Unmount with `fusermount3 -u MOUNTPOINT`; the process then exits.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import mfusepy
from mfusepy import FUSE, FuseOSError, Operations

BLOCK = 4096
_OPEN_FLAGS_KEPT = ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC | os.O_APPEND | os.O_NOCTTY)


@dataclass
class Unsynced:
    """Undo information of one inode's data since its last fsync."""

    fd: int  # our own descriptor: the inode stays reachable even after an unlink
    durable_size: int
    blocks: dict[int, bytes] = field(default_factory=dict)  # block number -> durable content


@dataclass
class NameOp:
    """One namespace change not yet durable, and how to undo it."""

    kind: str  # create | mkdir | unlink | rmdir | rename | link | symlink
    path: str  # backing path created or removed (the rename's destination)
    source: str | None = None  # rename: the backing path it came from
    trash: str | None = None  # where the removed or replaced entry waits
    inode: int | None = None  # create: the new file's inode


class LazyFS(Operations):
    use_ns = True
    flag_nopath = True
    flag_nullpath_ok = True

    def __init__(self, backing: str, trash: str) -> None:
        self.root = os.path.realpath(backing)
        self.trash = os.path.realpath(trash)
        os.makedirs(self.trash, exist_ok=True)
        self._mutex = threading.RLock()  # not `lock`: that name is the FUSE lock operation
        self.unsynced: dict[int, Unsynced] = {}  # inode -> undo of its data
        self.names: list[NameOp] = []  # namespace changes not yet durable, in order
        self.dropped = {"writes": 0, "files": 0, "names": 0}  # what power losses undid
        self.counts = {"fsync": 0, "fsyncdir": 0, "write": 0}

    # Paths.

    def _real(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _to_trash(self, real: str) -> str:
        target = os.path.join(self.trash, uuid.uuid4().hex)
        os.rename(real, target)
        return target

    # Undo bookkeeping.

    def _track(self, fd: int) -> Unsynced:
        """The undo record of fd's inode, made when the inode is first changed after a sync."""
        info = os.fstat(fd)
        record = self.unsynced.get(info.st_ino)
        if record is None:
            own = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
            record = Unsynced(own, info.st_size)
            self.unsynced[info.st_ino] = record
        return record

    def _save_blocks(self, record: Unsynced, start: int, end: int) -> None:
        """Keep the durable content of the blocks in [start, end) before they change."""
        last = min(end, record.durable_size)
        for number in range(start // BLOCK, (last + BLOCK - 1) // BLOCK):
            if number not in record.blocks:
                record.blocks[number] = os.pread(record.fd, BLOCK, number * BLOCK)

    def _synced(self, inode: int) -> None:
        record = self.unsynced.pop(inode, None)
        if record is not None:
            os.close(record.fd)
        for position, op in enumerate(self.names):
            if op.kind == "create" and op.inode == inode:
                self._commit_names(position + 1)
                break

    def _commit_names(self, count: int) -> None:
        committed, self.names = self.names[:count], self.names[count:]
        for op in committed:
            if op.trash is not None:
                _remove(op.trash)

    def power_loss(self) -> dict[str, int]:
        """Undo every change that is not durable; returns what was undone."""
        with self._mutex:
            undone = {"names": len(self.names), "files": len(self.unsynced), "blocks": 0}
            for op in reversed(self.names):
                _undo(op)
            self.names = []
            for record in self.unsynced.values():
                for number, content in record.blocks.items():
                    os.pwrite(record.fd, content, number * BLOCK)
                    undone["blocks"] += 1
                os.ftruncate(record.fd, record.durable_size)
                os.close(record.fd)
            self.unsynced = {}
            for name in os.listdir(self.trash):
                _remove(os.path.join(self.trash, name))
            for key in ("names", "files"):
                self.dropped[key] += undone[key]
            self.dropped["writes"] += undone["blocks"]
            return undone

    def stats(self) -> dict[str, Any]:
        with self._mutex:
            return {
                "pending_names": len(self.names),
                "pending_files": len(self.unsynced),
                "dropped": dict(self.dropped),
                **self.counts,
            }

    # File system operations.

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        with self._mutex:
            try:
                info = os.fstat(fh) if fh is not None else os.lstat(self._real(path or "/"))
            except OSError as exc:
                raise FuseOSError(exc.errno) from None
            keys = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
            attrs: dict[str, Any] = {key: getattr(info, key) for key in keys}
            for key in ("st_atime", "st_mtime", "st_ctime"):
                attrs[key] = getattr(info, key + "_ns")
            return attrs

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._real(path), amode):
            raise FuseOSError(errno.EACCES)
        return 0

    def readdir(self, path: str | None, fh: int) -> list[tuple[str, dict[str, int], int]]:
        # Inode numbers must be given (use_ino): an entry with inode 0 is skipped by readdir.
        with self._mutex:
            entries = []
            for name in (".", "..", *os.listdir(fh)):
                info = os.stat(name, dir_fd=fh, follow_symlinks=False)
                entries.append((name, {"st_mode": info.st_mode, "st_ino": info.st_ino}, 0))
            return entries

    def readlink(self, path: str) -> str:
        return os.readlink(self._real(path))

    def statfs(self, path: str) -> dict[str, int]:
        info = os.statvfs(self.root)
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files")
        return {key: getattr(info, key) for key in (*keys, "f_flag", "f_frsize", "f_namemax")}

    def chmod(self, path: str | None, mode: int) -> int:
        if path is not None:  # None: an unlinked open file (nothing to keep)
            os.chmod(self._real(path), mode)
        return 0

    def chown(self, path: str | None, uid: int, gid: int) -> int:
        if path is not None:
            os.lchown(self._real(path), uid, gid)
        return 0

    def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
        if path is not None:
            os.utime(self._real(path), ns=times, follow_symlinks=False)
        return 0

    def open(self, path: str, flags: int) -> int:
        with self._mutex:
            fd = os.open(self._real(path), flags & _OPEN_FLAGS_KEPT)
            if flags & os.O_TRUNC:  # the kernel passes it on (atomic O_TRUNC): undoable
                self.truncate(None, 0, fd)
            return fd

    def create(self, path: str, mode: int, fi: int | None = None) -> int:
        with self._mutex:
            real = self._real(path)
            flags = os.O_RDWR if fi is None else (fi & _OPEN_FLAGS_KEPT) | os.O_CREAT
            fd = os.open(real, flags | os.O_CREAT | os.O_EXCL, mode)
            inode = os.fstat(fd).st_ino
            self.names.append(NameOp("create", real, inode=inode))
            self.unsynced[inode] = Unsynced(os.open(f"/proc/self/fd/{fd}", os.O_RDWR), 0)
            return fd

    def mknod(self, path: str, mode: int, dev: int) -> int:
        with self._mutex:
            real = self._real(path)
            os.mknod(real, mode, dev)
            self.names.append(NameOp("create", real, inode=os.lstat(real).st_ino))
            return 0

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        with self._mutex:
            record = self._track(fh)
            self._save_blocks(record, offset, offset + len(data))
            self.counts["write"] += 1
            return os.pwrite(fh, data, offset)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        with self._mutex:
            if fh is None and path is None:
                raise FuseOSError(errno.EBADF)
            fd = fh if fh is not None else os.open(self._real(path or "/"), os.O_RDWR)
            try:
                record = self._track(fd)
                size = os.fstat(fd).st_size
                if length < size:
                    self._save_blocks(record, length, size)
                os.ftruncate(fd, length)
            finally:
                if fh is None:
                    os.close(fd)
            return 0

    def fallocate(self, path: str | None, mode: int, offset: int, size: int, fh: int) -> int:
        if mode != 0:
            raise FuseOSError(errno.EOPNOTSUPP)
        with self._mutex:
            self._track(fh)  # only growth: undone by cutting back to the durable size
            os.posix_fallocate(fh, offset, size)
            return 0

    def flush(self, path: str | None, fh: int) -> int:
        return 0  # close() makes nothing durable

    def release(self, path: str | None, fh: int) -> int:
        os.close(fh)
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        with self._mutex:
            self.counts["fsync"] += 1
            self._synced(os.fstat(fh).st_ino)
            return 0

    def opendir(self, path: str) -> int:
        return os.open(self._real(path), os.O_RDONLY | os.O_DIRECTORY)

    def releasedir(self, path: str | None, fh: int) -> int:
        os.close(fh)
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        with self._mutex:
            self.counts["fsyncdir"] += 1
            self._commit_names(len(self.names))
            return 0

    def mkdir(self, path: str, mode: int) -> int:
        with self._mutex:
            real = self._real(path)
            os.mkdir(real, mode)
            self.names.append(NameOp("mkdir", real))
            return 0

    def symlink(self, target: str, source: str) -> int:
        with self._mutex:
            real = self._real(target)
            os.symlink(source, real)
            self.names.append(NameOp("symlink", real))
            return 0

    def link(self, target: str, source: str) -> int:
        with self._mutex:
            real = self._real(target)
            os.link(self._real(source), real)
            self.names.append(NameOp("link", real))
            return 0

    def unlink(self, path: str) -> int:
        with self._mutex:
            real = self._real(path)
            self.names.append(NameOp("unlink", real, trash=self._to_trash(real)))
            return 0

    def rmdir(self, path: str) -> int:
        with self._mutex:
            real = self._real(path)
            if os.listdir(real):
                raise FuseOSError(errno.ENOTEMPTY)
            self.names.append(NameOp("rmdir", real, trash=self._to_trash(real)))
            return 0

    def rename(self, old: str, new: str) -> int:
        with self._mutex:
            source, target = self._real(old), self._real(new)
            replaced = None
            if os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target) and os.listdir(target):
                    raise FuseOSError(errno.ENOTEMPTY)
                replaced = self._to_trash(target)
            try:
                os.rename(source, target)
            except OSError:
                if replaced is not None:
                    os.rename(replaced, target)
                raise
            self.names.append(NameOp("rename", target, source=source, trash=replaced))
            return 0


def _undo(op: NameOp) -> None:
    if op.kind in ("create", "symlink", "link"):
        if os.path.lexists(op.path):
            os.unlink(op.path)
    elif op.kind == "mkdir":
        shutil.rmtree(op.path, ignore_errors=True)
    elif op.kind in ("unlink", "rmdir"):
        assert op.trash is not None
        os.rename(op.trash, op.path)
    elif op.kind == "rename":
        assert op.source is not None
        os.rename(op.path, op.source)
        if op.trash is not None:
            os.rename(op.trash, op.path)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _serve_commands(fs: LazyFS) -> None:
    """stdin: one command per line; stdout: one JSON answer per line."""
    for line in sys.stdin:
        command = line.strip()
        if command == "power-loss":
            answer: dict[str, Any] = {"ok": True, "undone": fs.power_loss()}
        elif command == "stats":
            answer = {"ok": True, **fs.stats()}
        else:
            answer = {"ok": False, "error": f"unknown command {command!r}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class _Fuse(FUSE):
    """mfusepy's libfuse-3 truncate drops the file handle; with `nopath` the path is then
    None too (LMDB's ftruncate of lock.mdb arrives that way): hand the handle on."""

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        fh = fip.contents.fh if fip else None
        decoded = None if path is None else path.decode(self.encoding, self.errors)
        return self.operations.truncate(decoded, length, fh)


def main(argv: list[str]) -> int:
    backing, trash, mountpoint = argv
    fs = LazyFS(backing, trash)
    threading.Thread(target=_serve_commands, args=(fs,), daemon=True).start()
    _Fuse(
        fs,
        mountpoint,
        foreground=True,
        nothreads=True,
        use_ino=True,
        hard_remove=True,  # an unlink is an unlink (not a rename to .fuse_hidden*)
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,
        fsname="lazyfs",
    )
    return 0


if __name__ == "__main__":
    mfusepy.log.setLevel("WARNING")
    sys.exit(main(sys.argv[1:]))
