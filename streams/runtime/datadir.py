"""Faust's data folder: a new temporary folder per worker, and the folders of workers that died.

Faust keeps nothing flexbridge needs there (state lives in Kafka), so each worker takes a new
``flexbridge-faust-*`` folder in the temporary folder and removes it when it stops. A worker
killed with SIGKILL (or by the OOM killer) cannot, and its folder stays behind. So each worker
holds an exclusive ``flock`` on a ``lock`` file in its folder while it runs: the kernel releases it
when the process dies, however it dies, and the lock means the same to every container that shares
the folder's filesystem (a PID means nothing in another PID namespace). At start, a worker removes
each ``flexbridge-faust-*`` folder whose lock it can take. A folder without a ``lock`` file is
left alone; the file appears in its folder already locked (it is locked under another name, then
renamed), so no worker can take a starting worker's folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PREFIX", "faust_datadir", "remove_orphans"]

log = logging.getLogger(__name__)

PREFIX = "flexbridge-faust-"
LOCK = "lock"


@contextlib.contextmanager
def faust_datadir(base: str | None = None) -> Iterator[str]:
    """A new folder for Faust in ``base`` (the temporary folder), locked while the block runs and
    removed after it; the folders of dead workers are removed first."""
    remove_orphans(base)
    fd: int | None = None
    try:
        with tempfile.TemporaryDirectory(prefix=PREFIX, dir=base, ignore_cleanup_errors=True) as path:
            starting = os.path.join(path, f".{LOCK}")
            fd = os.open(starting, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(starting, os.path.join(path, LOCK))  # visible to others only once locked
            yield path
    finally:  # the lock is held until the folder is gone
        if fd is not None:
            os.close(fd)


def remove_orphans(base: str | None = None) -> int:
    """Remove every ``flexbridge-faust-*`` folder in ``base`` whose lock no process holds; how many."""
    removed = 0
    for folder in Path(base or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            fd = os.open(folder / LOCK, os.O_RDWR)
        except OSError:
            continue  # no lock file (not ours, or a worker from before locks), or gone meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a running worker's
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d data folders of workers that stopped without cleaning up", removed)
    return removed
