"""The run-folder lock: a second writer refuses naming the first; a killed holder blocks nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from spin.lock import LOCK_NAME, FolderBusyError, folder_lock

HOLD = """
import sys, time
from spin.lock import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(folder):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_refuses_naming_the_first_then_a_kill_frees_the_folder(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(FolderBusyError) as err, folder_lock(tmp_path):
            pass
        msg = str(err.value)
        assert f"pid {proc.pid} on {socket.gethostname()} since " in msg and "\n" not in msg
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the killed holder's file stays, stale
    with folder_lock(tmp_path):
        assert str(os.getpid()) in (tmp_path / LOCK_NAME).read_text()
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_is_released_on_error(tmp_path):
    with pytest.raises(RuntimeError), folder_lock(tmp_path):
        raise RuntimeError("stage failed")
    start = time.time()
    with folder_lock(tmp_path):
        pass
    assert time.time() - start < 1
