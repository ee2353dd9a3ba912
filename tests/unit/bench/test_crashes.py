"""``python -m bench`` reads the logs its run wrote (every stack's, under its workdir) for an agent
or a task that crashed inside a worker, and exits 1 on one: logs left by an earlier run do not count."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.__main__ import _crashes

CRASH = (
    '{"level":"error","logger":"faust.agents.actor","msg":"[^----Agent*: streams.runtime.orders.a[.]track]: '
    "Crashed reason=RuntimeError('async generator raised StopAsyncIteration')\"}"
)
FINE = '{"level":"info","logger":"streams.runtime.launch","msg":"worker ready"}'


def test_the_crash_lines_of_this_runs_logs_are_found_in_every_stacks_folder(tmp_path: Path) -> None:
    started = time.time()
    (tmp_path / "merchants").mkdir()
    (tmp_path / "worker-1.log").write_text(f"{FINE}\n")
    (tmp_path / "merchants" / "worker-3.log").write_text(f"{FINE}\n{CRASH}\n")
    old = tmp_path / "worker-7.log"  # an earlier run's, not rewritten by this one
    old.write_text(f"{CRASH}\n")
    os.utime(old, (started - 3600, started - 3600))

    found = _crashes(tmp_path, started)

    assert len(found) == 1
    assert found[0].startswith("merchants/worker-3.log: ") and "Crashed reason=RuntimeError" in found[0]
    assert _crashes(tmp_path, started - 7200) == [
        f"merchants/worker-3.log: {CRASH}",
        f"worker-7.log: {CRASH}",
    ]
