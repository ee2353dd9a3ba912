"""`flexbridge check` on the real stack: every check passes, and each failure names its setting.

One sandbox (Flex API and SFTP server) serves the module; each test breaks one setting of an
otherwise good environment and expects exactly that check to fail, naming that setting.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.settings import KafkaSettings
from streams.kafka.topics import ensure_topics
from streams.local.broker import EmbeddedBroker
from streams.local.procs import free_port
from streams.local.stack import DEV_MID
from tests.conftest import Stack
from tests.support import DEV_APP_KEY, DEV_APP_SECRET, Sandbox, run_flexbridge, unique

pytestmark = pytest.mark.integration

GOOD_KEY = base64.b64encode(bytes(range(64))).decode()


def _key_pair(path: Path) -> Path:
    """A fresh ed25519 key pair at ``path`` (and ``path.pub``), not known to the sandbox."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def env(
    broker: EmbeddedBroker, log_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A good environment: the shared broker, and a sandbox with its SFTP server (MIT routed to it)."""
    state = tmp_path_factory.mktemp("check-sandbox")
    sandbox = Sandbox(log_dir, "--sftp-port", "0", "--state-dir", str(state))
    port = sandbox.process.wait_line(r"sftp listening on 127\.0\.0\.1:(\d+)", 10).group(1)
    try:
        yield {
            **Stack(broker, sandbox, log_dir).env,
            "FLEXBRIDGE_ROUTING__MIT": "sftp",
            "FLEXBRIDGE_SFTP__PORT": port,
            "FLEXBRIDGE_SFTP__KEY_PATH": str(state / "client_key"),
            "FLEXBRIDGE_SFTP__KNOWN_HOSTS": str(state / "known_hosts"),
            "FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY": GOOD_KEY,
        }
    finally:
        sandbox.process.stop()


async def _check(env: dict[str, str], **changes: str) -> tuple[int, list[dict[str, Any]]]:
    code, out, err = await run_flexbridge({**env, **changes}, "check", "--json", timeout=120)
    assert out, err
    checks: list[dict[str, Any]] = orjson.loads(out)["checks"]
    return code, checks


def _failed(checks: list[dict[str, Any]]) -> dict[str, str]:
    return {c["name"]: c["setting"] for c in checks if c["result"] == "FAIL"}


async def test_every_check_passes_on_a_good_environment(env: dict[str, str]) -> None:
    code, out, err = await run_flexbridge(env, "check", timeout=120)
    assert code == 0, out + err
    assert "FAIL" not in out and "all checks passed" in out
    _, checks = await _check(env)
    names = [c["name"] for c in checks]
    assert names == [
        "settings",
        "kafka broker",
        "kafka topics",
        "kafka retention",
        "idempotent producer",
        f"flex token ({DEV_MID})",
        "sftp login",
        "sftp inbound folder",
        "sftp outbound folder",
        "webhook key",
    ]
    topics = next(c["detail"] for c in checks if c["name"] == "kafka topics")
    assert env["FLEXBRIDGE_TOPICS__STATUS"] in topics and env["FLEXBRIDGE_TOPICS__BATCHES"] in topics


DAY = 86_400_000  # ms


async def _topics_kept(env: dict[str, str], **days: float | None) -> dict[str, str]:
    """Fresh topics for the named settings (``declined=7``: FLEXBRIDGE_TOPICS__DECLINED), each deleting
    records after so many days (None: compacted only); the environment naming them."""
    kafka = _kafka(env, int(env["FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS"]))  # as a worker makes them
    named = {}
    for name, kept in days.items():
        topic = unique(f"check-{name}")
        config = (
            {"cleanup.policy": "compact"}
            if kept is None
            else {"cleanup.policy": "compact,delete", "retention.ms": str(int(kept * DAY))}
        )
        await ensure_topics(kafka, [topic], config)
        named[f"FLEXBRIDGE_TOPICS__{name.upper()}"] = topic
    return named


def _kafka(env: dict[str, str], partitions: int) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=env["FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS"], topic_partitions=partitions
    )


async def test_order_topics_of_another_partition_count_than_the_order_table_name_the_setting(
    env: dict[str, str],
) -> None:
    status, commands = unique("check-status"), unique("check-commands")
    await ensure_topics(_kafka(env, 2), [status, commands])
    topics = {"FLEXBRIDGE_TOPICS__STATUS": status, "FLEXBRIDGE_TOPICS__COMMANDS": commands}
    code, checks = await _check(env, **topics)  # the environment's order table: 4 partitions
    assert code == 1 and _failed(checks) == {"kafka topics": "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS"}
    [check] = [c for c in checks if c["name"] == "kafka topics"]
    assert f"is 4, but {status} has 2, {commands} has 2 partitions" in check["detail"], check
    code, checks = await _check(env, **topics, FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS="2")
    assert code == 0 and _failed(checks) == {}


async def test_a_ledger_kept_shorter_than_the_declines_fails(env: dict[str, str]) -> None:
    topics = await _topics_kept(env, declined=7, dlq=3, ledger=1)
    code, checks = await _check(env, **topics)
    assert code == 1 and _failed(checks) == {"kafka retention": None}
    [check] = [c for c in checks if c["name"] == "kafka retention"]
    assert check["detail"].startswith(f"{topics['FLEXBRIDGE_TOPICS__LEDGER']} keeps 1 day, ")
    assert topics["FLEXBRIDGE_TOPICS__DECLINED"] in check["detail"] and "7 days" in check["fix"]
    longer = await _topics_kept(env, ledger=7)  # as long as the declines: passes
    code, checks = await _check(env, **{**topics, **longer})
    assert code == 0 and _failed(checks) == {}


async def test_commands_kept_longer_than_the_order_table_name_its_retention(env: dict[str, str]) -> None:
    topics = await _topics_kept(env, commands=60, ledger=None)
    code, checks = await _check(env, **topics)  # the order table's default: 30 days
    assert code == 1 and _failed(checks) == {"kafka retention": "FLEXBRIDGE_ORDERS__RETENTION_DAYS"}
    code, checks = await _check(env, **topics, FLEXBRIDGE_ORDERS__RETENTION_DAYS="60")
    assert code == 0
    [check] = [c for c in checks if c["name"] == "kafka retention"]
    assert check["detail"] == "no topic outlasts what flexbridge remembers"


async def test_an_invalid_value_names_its_variable_in_the_table(env: dict[str, str]) -> None:
    code, out, _ = await run_flexbridge({**env, "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS": "0"}, "check")
    assert code == 1
    assert "FLEXBRIDGE_KAFKA__TOPIC_PARTITIONS" in out and "FAIL" in out


async def test_a_closed_broker_port_names_the_bootstrap_servers(env: dict[str, str]) -> None:
    code, checks = await _check(env, FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    assert code == 1
    assert _failed(checks) == {"kafka broker": "FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS"}


async def test_a_refused_idempotent_producer_names_its_setting(env: dict[str, str]) -> None:
    code, checks = await _check(
        env, FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE="true"
    )  # the embedded broker refuses
    assert code == 1
    assert _failed(checks) == {"idempotent producer": "FLEXBRIDGE_KAFKA__ENABLE_IDEMPOTENCE"}


async def test_a_wrong_app_secret_names_the_credentials(env: dict[str, str]) -> None:
    code, checks = await _check(env, FLEXBRIDGE_FLEX__APP_SECRET=DEV_APP_SECRET + "-wrong")
    assert code == 1
    [(name, setting)] = _failed(checks).items()
    assert name.startswith("flex token") and "FLEXBRIDGE_FLEX__APP_SECRET" in setting


async def test_an_unreachable_flex_names_the_base_url(env: dict[str, str]) -> None:
    code, checks = await _check(env, FLEXBRIDGE_FLEX__BASE_URL=f"http://127.0.0.1:{free_port()}/v1/")
    assert code == 1
    [(name, setting)] = _failed(checks).items()
    assert name.startswith("flex token") and setting == "FLEXBRIDGE_FLEX__BASE_URL"


async def test_another_pinned_host_key_names_known_hosts(env: dict[str, str], tmp_path: Path) -> None:
    other = _key_pair(tmp_path / "other_host_key").with_suffix(".pub").read_text().strip()
    port = env["FLEXBRIDGE_SFTP__PORT"]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {other}\n")
    code, checks = await _check(env, FLEXBRIDGE_SFTP__KNOWN_HOSTS=str(known))
    assert code == 1
    assert _failed(checks) == {"sftp host key": "FLEXBRIDGE_SFTP__KNOWN_HOSTS"}


async def test_a_refused_login_names_the_key(env: dict[str, str], tmp_path: Path) -> None:
    code, checks = await _check(env, FLEXBRIDGE_SFTP__KEY_PATH=str(_key_pair(tmp_path / "other_client_key")))
    assert code == 1
    [(name, setting)] = _failed(checks).items()
    assert name == "sftp login" and "FLEXBRIDGE_SFTP__KEY_PATH" in setting


async def test_a_missing_folder_names_its_setting(env: dict[str, str]) -> None:
    code, checks = await _check(env, FLEXBRIDGE_SFTP__OUTBOUND_DIR="no-such-folder")
    assert code == 1
    assert _failed(checks) == {"sftp outbound folder": "FLEXBRIDGE_SFTP__OUTBOUND_DIR"}


async def test_a_bad_webhook_key_names_its_setting(env: dict[str, str]) -> None:
    short = base64.b64encode(b"too short").decode()
    code, checks = await _check(env, FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY=short)
    assert code == 1
    # the worker refuses it at start, so it fails the settings line as every such setting does
    assert _failed(checks) == {"settings": "FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY"}
    failed = next(c for c in checks if c["result"] == "FAIL")
    assert short not in orjson.dumps(failed).decode()  # the key is not echoed


def _with_merchants_file(env: dict[str, str], path: Path, entry: str) -> dict[str, str]:
    """``env`` with a merchants file of one merchant in place of the FLEXBRIDGE_FLEX__ credentials."""
    path.write_text(entry)
    dropped = ("FLEXBRIDGE_FLEX__APP_KEY", "FLEXBRIDGE_FLEX__APP_SECRET", "FLEXBRIDGE_FLEX__MID")
    return {**{k: v for k, v in env.items() if k not in dropped}, "FLEXBRIDGE_MERCHANTS_FILE": str(path)}


def _entry(env: dict[str, str], *, secret: bool = True) -> str:
    lines = ["[[merchants]]", 'name = "shop"', f'mid = "{DEV_MID}"', f'app_key = "{DEV_APP_KEY}"']
    if secret:
        lines.append(f'app_secret = "{DEV_APP_SECRET}"')
    lines.append(f'sftp = {{ username = "merchant", key_path = "{env["FLEXBRIDGE_SFTP__KEY_PATH"]}" }}')
    return "\n".join(lines) + "\n"


async def test_a_merchants_file_replaces_the_flex_credentials(env: dict[str, str], tmp_path: Path) -> None:
    code, checks = await _check(_with_merchants_file(env, tmp_path / "merchants.toml", _entry(env)))
    assert code == 0, checks
    assert _failed(checks) == {}
    settings = next(c for c in checks if c["name"] == "settings")
    assert "FLEXBRIDGE_MERCHANTS_FILE lists 1 merchant(s)" in settings["detail"]
    assert "flex token (shop)" in [c["name"] for c in checks]


async def test_a_merchants_file_entry_without_a_secret_names_the_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    broken = _with_merchants_file(env, tmp_path / "merchants.toml", _entry(env, secret=False))
    code, checks = await _check(broken)
    assert code == 1
    assert _failed(checks) == {"settings": "FLEXBRIDGE_MERCHANTS_FILE"}
    [settings] = [c for c in checks if c["name"] == "settings"]
    assert 'merchant "shop"' in settings["detail"] and "app_secret" in settings["detail"]
    assert "FLEXBRIDGE_FLEX__APP_KEY" not in settings["detail"]
