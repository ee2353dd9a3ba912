"""A bad merchants file stops ``flexbridge worker`` at once (exit 2) with a message naming the
merchant and the field, before anything connects: the Kafka address given here has no broker, so
a worker that went past the check would fail on Kafka instead."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.support import run_flexbridge

pytestmark = pytest.mark.integration

KEY = base64.b64encode(bytes(range(64))).decode()
ACME = """[[merchants]]
mid = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"
name = "acme"
app_key = "acme-key"
app_secret = "acme-secret"
routing = { mit = "api", transmit = "api" }
"""


def env_for(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "merchants.toml"
    path.write_text(text)
    return {
        "FLEXBRIDGE_MERCHANTS_FILE": str(path),
        "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens: the check must come first
        "FLEXBRIDGE_KAFKA__STARTUP_TIMEOUT_SECONDS": "5",
        "FLEXBRIDGE_FLEX__APP_KEY": "global-key",
        "FLEXBRIDGE_FLEX__APP_SECRET": "global-secret",
    }


def entry(name: str, mid: str, extra: str) -> str:
    return f'[[merchants]]\nmid = "{mid}"\nname = "{name}"\napp_key = "k"\n{extra}\n'


CASES = {
    "duplicate mid": (
        ACME
        + entry(
            "globex", "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31", 'app_secret = "s"\nrouting = { mit = "api" }'
        ),
        'merchant "globex": mid: 5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31 is already merchant "acme"\'s',
    ),
    "missing secret": (
        ACME + entry("globex", "0b7e2d44-91c3-4f5e-8a6b-3c2d1e0f9a87", 'routing = { mit = "api" }'),
        'merchant "globex": app_secret: missing',
    ),
    "sftp route without account": (
        entry(
            "initech", "7c3e9f21-5a4b-4d6c-8e7f-1a2b3c4d5e6f", 'app_secret = "s"\nrouting = { mit = "sftp" }'
        ),
        'merchant "initech": sftp: required because routing.mit is "sftp"',
    ),
    "bad subscriber key": (
        ACME.replace('app_secret = "acme-secret"', f'app_secret = "s"\nsubscriber_key = "{KEY[:40]}"'),
        'merchant "acme": subscriber_key must decode to 64 bytes, got 30',
    ),
    "toml syntax": (ACME + "[[merchants]\n", "not valid TOML"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bad_merchants_file_stops_the_worker_with_its_message(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    code, _, err = await run_flexbridge(env_for(tmp_path, text), "worker")
    assert code == 2, err
    assert expected in err, err
    assert f"FLEXBRIDGE_MERCHANTS_FILE={tmp_path / 'merchants.toml'}" in err
    assert "waiting for Kafka" not in err  # stopped before anything connects


async def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "run" / "acme-flex"
    text = ACME.replace('app_secret = "acme-secret"', f'app_secret_file = "{missing}"')
    code, _, err = await run_flexbridge(env_for(tmp_path, text), "worker")
    assert code == 2, err
    assert f'merchant "acme": app_secret_file: cannot read {missing} (FileNotFoundError)' in err
