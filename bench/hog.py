"""``python -m bench --cpu-hog``: a busy loop in a child process pinned to one core beside the
benchmark (production nodes are shared), stopped at the end. ``python -m bench.hog CORE`` is the loop."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cpu_hog", "hog_core", "main"]


def hog_core(cores: set[int]) -> int:
    """The core the hog is pinned to: the highest one this process may run on."""
    return max(cores)


@contextmanager
def cpu_hog(on: bool = True) -> Iterator[int | None]:
    """While the block runs, a child spinning on one core (its number is yielded); nothing if not ``on``."""
    if not on:
        yield None
        return
    core = hog_core(os.sched_getaffinity(0))
    child = subprocess.Popen([sys.executable, "-m", "bench.hog", str(core)])  # our own argv  # noqa: S603
    try:
        yield core
    finally:
        child.terminate()
        child.wait(10)


def main(argv: list[str] | None = None) -> int:
    """Spin on core ``CORE`` until the parent is gone (so a killed benchmark leaves no hog behind)."""
    core = int((argv or sys.argv[1:])[0])
    os.sched_setaffinity(0, {core})
    parent = os.getppid()
    while os.getppid() == parent:
        for _ in range(1_000_000):  # a few ms of pure CPU between checks
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
