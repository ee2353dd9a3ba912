"""Faust's data folders (streams/runtime/datadir.py): a worker's own folder is locked while it runs
and removed after; a SIGKILLed worker's folder is removed by the next worker to start, a running
one's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.runtime.datadir import LOCK, PREFIX, faust_datadir, remove_orphans

# A process that takes a data folder in BASE, prints its path and waits to be killed.
_HOLDER = """
import sys, time
from streams.runtime.datadir import faust_datadir
with faust_datadir(sys.argv[1]) as path:
    print(path, flush=True)
    time.sleep(600)
"""


def _holder(base: Path) -> tuple[subprocess.Popen[str], Path]:
    child = subprocess.Popen(  # our own interpreter and code
        [sys.executable, "-c", _HOLDER, str(base)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    with child.stdout:  # it prints once
        return child, Path(child.stdout.readline().strip())


def test_a_worker_folder_is_locked_while_it_runs_and_removed_after(tmp_path: Path) -> None:
    with faust_datadir(str(tmp_path)) as path:
        folder = Path(path)
        assert folder.parent == tmp_path and folder.name.startswith(PREFIX)
        assert sorted(p.name for p in folder.iterdir()) == [LOCK]
        assert remove_orphans(str(tmp_path)) == 0  # our own lock is held
        assert folder.is_dir()
    assert list(tmp_path.iterdir()) == []


def test_a_killed_worker_folder_goes_and_a_running_one_stays(tmp_path: Path) -> None:
    killed, killed_folder = _holder(tmp_path)
    running, running_folder = _holder(tmp_path)
    try:
        (killed_folder / "v1" / "tables").mkdir(parents=True)  # as Faust leaves it
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
        assert killed_folder.is_dir()  # SIGKILL left it behind

        with faust_datadir(str(tmp_path)) as path:  # the next worker to start
            assert not killed_folder.exists()
            assert running_folder.is_dir() and Path(path).is_dir()
    finally:
        running.kill()
        running.wait(10)
    assert remove_orphans(str(tmp_path)) == 1  # the second one, now dead too
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_a_lock_file_is_left_alone(tmp_path: Path) -> None:
    other = tmp_path / f"{PREFIX}not-a-worker"  # e.g. left by a version without locks
    other.mkdir()
    (tmp_path / "unrelated").mkdir()
    assert remove_orphans(str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "unrelated"]
