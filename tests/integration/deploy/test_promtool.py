"""promtool (Debian's prometheus package) checks the alert rules and runs their unit tests."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.integration.deploy.prometheus import RULES

pytestmark = pytest.mark.integration


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run `bash tests/system-packages.sh` (as root)"
    return subprocess.run(
        [binary, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_check_rules_passes() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 21 rules found" in done.stdout


def test_promtool_test_rules_passes() -> None:
    done = promtool("test", "rules", "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_check_config_passes_for_the_compose_prometheus() -> None:
    done = promtool("check", "config", "prometheus.yml")  # it checks the rule files it names too
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout
