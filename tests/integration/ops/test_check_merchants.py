"""``flexbridge check`` with a merchants file, against the sandbox in multi-merchant mode: one Flex
token per merchant and one SFTP login per merchant's own account; a merchant whose secret or SFTP
key is refused is named with its file entry, and the others pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncssh
import orjson
import pytest

from core.merchants import load_merchants
from core.settings import Settings
from sandbox import RunningSandbox
from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from streams.ops.check_flex import flex_checks
from streams.ops.check_sftp_merchants import merchant_sftp_checks
from tests.sandbox.merchants_support import CORA, merchants_sandbox
from tests.support import run_flexbridge, unique

pytestmark = pytest.mark.integration


async def test_each_merchant_gets_a_token_and_a_refused_one_is_named(tmp_path: Path) -> None:
    async with merchants_sandbox(tmp_path / "sandbox") as sandbox:
        text = (tmp_path / "sandbox" / "merchants.toml").read_text()
        secret = tmp_path / "sandbox" / "cora_app_secret"
        path = tmp_path / "worker.toml"
        path.write_text(text.replace(f'app_secret_file = "{secret}"', 'app_secret = "wrong"'))
        settings = Settings.model_validate({"merchants_file": path, "flex": {"base_url": sandbox.url}})
        results = {r.name: r for r in await flex_checks(settings, load_merchants(settings))}
    assert set(results) == {"flex token (acme)", "flex token (bolt)", "flex token (cora)"}
    assert results["flex token (acme)"].ok and results["flex token (bolt)"].ok
    cora = results["flex token (cora)"]
    assert not cora.ok and cora.setting == 'FLEXBRIDGE_MERCHANTS_FILE: merchant "cora" app_key, app_secret'


async def test_an_unreachable_flex_is_one_failure_not_one_per_merchant(tmp_path: Path) -> None:
    async with merchants_sandbox(tmp_path / "sandbox"):
        path = tmp_path / "sandbox" / "merchants.toml"
        nowhere = f"http://127.0.0.1:{free_port()}/v1/"
        settings = Settings.model_validate({"merchants_file": path, "flex": {"base_url": nowhere}})
        results = await flex_checks(settings, load_merchants(settings))
    [only] = results  # the others share the API: each would wait out the same deadline
    assert (only.name, only.ok, only.setting) == ("flex token (acme)", False, "FLEXBRIDGE_FLEX__BASE_URL")
    assert only.detail.endswith("; the other 2 merchant(s) were not tried (they share the Flex API)")


def _worker_file(tmp_path: Path) -> Path:
    """The sandbox's merchants file, with cora's SFTP key replaced by one the sandbox never authorised."""
    stranger = tmp_path / "stranger_sftp"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(stranger)
    text = (tmp_path / "sandbox" / "merchants.toml").read_text()
    path = tmp_path / "worker.toml"
    path.write_text(
        text.replace(f'key_path = "{CORA.key_path(tmp_path / "sandbox")}"', f'key_path = "{stranger}"')
    )
    return path


def _env(broker: EmbeddedBroker, sandbox: RunningSandbox, merchants: Path) -> dict[str, str]:
    """The worker's settings: MIT routed to SFTP for every merchant of ``merchants``."""
    assert sandbox.sftp is not None
    server = sandbox.sftp.server
    return {
        "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "FLEXBRIDGE_KAFKA__GROUP_ID": unique("check"),
        "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",
        "FLEXBRIDGE_FLEX__BASE_URL": sandbox.url,
        "FLEXBRIDGE_MERCHANTS_FILE": str(merchants),
        "FLEXBRIDGE_ROUTING__MIT": "sftp",
        "FLEXBRIDGE_SFTP__PORT": str(server.port),
        "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(server.known_hosts),
    }


async def test_a_merchant_whose_sftp_key_is_refused_fails_the_check_by_name(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with merchants_sandbox(tmp_path / "sandbox") as sandbox:
        env = _env(broker, sandbox, _worker_file(tmp_path))
        code, out, err = await run_flexbridge(env, "check", "--json", timeout=120)
    assert out, err
    checks: list[dict[str, Any]] = orjson.loads(out)["checks"]
    failed = {c["name"]: c["setting"] for c in checks if c["result"] == "FAIL"}
    assert code == 1
    assert failed == {
        "sftp login (cora)": 'FLEXBRIDGE_MERCHANTS_FILE: merchant "cora" sftp.username, sftp.key_path'
    }
    passed = {c["name"]: c["detail"] for c in checks if c["result"] == "PASS"}
    for name in ("acme", "bolt"):
        detail = passed[f"sftp ({name})"]
        assert detail.startswith(f"{name}-sftp@127.0.0.1:") and "'outbound' lists (0 files)" in detail


async def test_another_host_key_is_reported_once_for_every_merchant(tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    async with merchants_sandbox(tmp_path / "sandbox") as sandbox:
        assert sandbox.sftp is not None
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{sandbox.sftp.server.port} {other}\n")
        sftp = {"port": sandbox.sftp.server.port, "known_hosts": known}
        settings = Settings.model_validate(
            {
                "merchants_file": tmp_path / "sandbox" / "merchants.toml",
                "routing": {"mit": "sftp"},
                "sftp": sftp,
            }
        )
        results = await merchant_sftp_checks(settings, load_merchants(settings))
    [failure] = results
    assert (failure.name, failure.ok, failure.setting) == (
        "sftp host key (acme)",
        False,
        "FLEXBRIDGE_SFTP__KNOWN_HOSTS",
    )
    assert "the other 2 merchant(s) were not tried" in failure.detail
