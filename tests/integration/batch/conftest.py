"""The batch tests' sandbox: its API and its SFTP server, in this process, with its own state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import RunningSandbox, SandboxConfig, start_sandbox


@pytest.fixture
async def sftp_sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    config = SandboxConfig(sftp_port=0, state_dir=tmp_path / "sandbox", sftp_settle_seconds=0.5)
    running = await start_sandbox(config)
    try:
        yield running
    finally:
        await running.close()
