"""``python -m sandbox``: flags and environment, the ``ready`` line, clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from sandbox import DEV_APP_KEY, DEV_APP_SECRET, DEV_MID, DEV_SUBSCRIBER_KEY
from sandbox.cli import config_from_args
from sandbox.server import main

ROOT = Path(__file__).resolve().parents[1]


def test_flags_override_environment() -> None:
    env = {
        "FLEXBRIDGE_SANDBOX_APP_KEY": "env-key",
        "FLEXBRIDGE_SANDBOX_PORT": "8123",
        "FLEXBRIDGE_SANDBOX_TOKEN_TTL": "5",
        "FLEXBRIDGE_SANDBOX_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    }
    config = config_from_args(["--port", "9000", "--sftp-port", "2222", "--state-dir", "/tmp/s"], env)
    assert (config.port, config.app_key, config.token_ttl_seconds) == (9000, "env-key", 5.0)
    assert (config.sftp_port, config.webhook_url, config.state_dir) == (
        2222,
        "http://127.0.0.1:9/hook",
        Path("/tmp/s"),
    )
    defaults = config_from_args([], {})
    assert (defaults.host, defaults.port, defaults.mid) == ("127.0.0.1", 0, DEV_MID)
    assert (defaults.app_key, defaults.app_secret.get_secret_value()) == (DEV_APP_KEY, DEV_APP_SECRET)
    assert defaults.subscriber_key.get_secret_value() == DEV_SUBSCRIBER_KEY


def test_bad_settings_exit_2_without_echoing_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--subscriber-key", "c2hvcnQ="]) == 2
    err = capsys.readouterr().err
    assert "64 bytes" in err and "c2hvcnQ" not in err


@asynccontextmanager
async def running_cli(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        "0",
        *args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while not lines or lines[-1] != "ready":
            raw = await asyncio.wait_for(process.stdout.readline(), timeout=20)
            assert raw, f"sandbox exited early: {lines}"
            lines.append(raw.decode().rstrip("\n"))
        yield process, lines
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


def listening_url(lines: list[str]) -> str:
    prefix = "sandbox listening on "
    assert lines[-2].startswith(prefix)
    return lines[-2].removeprefix(prefix)


@pytest.mark.integration
async def test_cli_ready_answers_and_stops_on_sigterm() -> None:
    async with running_cli() as (process, lines):
        url = listening_url(lines)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1/")
        output = "\n".join(lines)
        assert DEV_APP_KEY in output and DEV_APP_SECRET in output and DEV_SUBSCRIBER_KEY in output
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            token = await http.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
            assert token.status_code == 200
            assert (await http.get(url.replace("/v1/", "/_sandbox/health"))).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0


@pytest.mark.integration
async def test_cli_credentials_from_flags_and_env_are_not_printed() -> None:
    env = {"FLEXBRIDGE_SANDBOX_APP_KEY": "cli-key"}
    async with running_cli("--app-secret", "cli-secret-value", env=env) as (process, lines):
        assert "cli-secret-value" not in "\n".join(lines)
        async with httpx.AsyncClient(base_url=listening_url(lines), timeout=10) as http:
            given = {"AppKey": "cli-key", "AppSecret": "cli-secret-value"}
            good = await http.post("oauth2/token", json=given)
            dev = await http.post("oauth2/token", json={"AppKey": DEV_APP_KEY, "AppSecret": DEV_APP_SECRET})
            assert (good.status_code, dev.status_code) == (200, 400)
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
