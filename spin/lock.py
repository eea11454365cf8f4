"""One writer per folder: `spin run` holds `<run>/run.lock` while it runs, the MT-Bench
judge its work folder's.

A `.partial/` stage folder means "killed, resume me" only if no live process is writing it;
two runs into one folder otherwise both append to the same generations and train on the
doubled pairs. The lock is an flock(2) on the file, so the kernel releases it when its holder
dies (even by SIGKILL): a stale lock never blocks the rerun. The file records who holds it
(pid, host, start time, command) so the refusal can name the other process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from spin.errors import SpinError

LOCK_NAME = "run.lock"


class FolderBusyError(SpinError):
    """Another live process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold `folder`'s lock for the block, or raise FolderBusyError naming its holder."""
    path = Path(folder) / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderBusyError(
                f"{folder} is in use by {holder}; wait for it or stop it"
            ) from None
        # the previous holder may have unlinked the file between our open and our flock:
        # then we hold a lock on a deleted inode, and must lock the file now at `path`
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_me()).encode() + b"\n")
        os.fsync(fd)
        yield path
    finally:
        path.unlink(missing_ok=True)  # still ours: nobody else can hold it while we do
        os.close(fd)


def _me() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
    }


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode())
        return f"pid {info['pid']} on {info['host']} since {info['started']} ({info['command']})"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "another process (its lock file is being written)"
