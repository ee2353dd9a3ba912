"""How ``pytest -n N`` (pytest-xdist, ``make test``) hands the tests to its processes.

A unit of work runs on one process, its tests in order. Each integration test module is one unit:
its module fixtures (a worker, a sandbox with SFTP) start once. The chaos and rolling-restart runs,
three workers each for minutes, are one unit together, so two of them never share the two cores.
Every other test is a unit of its own. Units with the most tests go first (pytest-xdist's order),
so the short unit tests fill the end.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

__all__ = ["ONE_AT_A_TIME", "ModuleScheduling"]

ONE_AT_A_TIME = frozenset(
    {
        "tests/integration/test_chaos.py",
        "tests/integration/test_rolling_restart.py",
        "tests/integration/test_merchants_rolling_restart.py",
    }
)


class ModuleScheduling(LoadScopeScheduling):
    """pytest-xdist's scope scheduling with the units above."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::")[0]
        if path in ONE_AT_A_TIME:
            return "one-at-a-time"
        return path if path.startswith("tests/integration/") else nodeid
