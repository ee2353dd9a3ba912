"""Command-line flags of ``flexbridge sandbox`` / ``python -m sandbox``; each also from the environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import SandboxConfig
from .merchants import load_merchants

__all__ = ["ENV_PREFIX", "build_parser", "config_from_args"]

ENV_PREFIX = "FLEXBRIDGE_SANDBOX_"

# (flag, config field, type, help)
_FLAGS: tuple[tuple[str, str, type[Any], str], ...] = (
    ("--host", "host", str, "address to listen on (default 127.0.0.1)"),
    ("--port", "port", int, "HTTP port; 0 picks a free one (default 0)"),
    ("--sftp-port", "sftp_port", int, "start the SFTP batch server on this port (0 = a free one)"),
    ("--webhook-url", "webhook_url", str, "merchant webhook endpoint the webhook sender posts to"),
    ("--webhook-max-attempts", "webhook_max_attempts", int, "webhook delivery attempts (default 8)"),
    ("--webhook-backoff", "webhook_backoff_seconds", float, "first webhook retry delay, doubling (0.5)"),
    ("--webhook-concurrency", "webhook_concurrency", int, "webhook deliveries posted at once (16)"),
    ("--app-key", "app_key", str, "AppKey accepted by /oauth2/token"),
    ("--app-secret", "app_secret", str, "AppSecret accepted by /oauth2/token"),
    ("--subscriber-key", "subscriber_key", str, "base64 webhook subscriber key (64 bytes)"),
    ("--state-dir", "state_dir", Path, "directory for SFTP host key and client keys"),
    ("--sftp-authorized-key", "sftp_authorized_key", Path, "public key the SFTP server authorises"),
    ("--sftp-settle", "sftp_settle_seconds", float, "seconds before a batch order is APPROVED/EXPIRED (3)"),
    ("--token-ttl", "token_ttl_seconds", float, "bearer token lifetime in seconds (default 600)"),
    ("--rules", "rules_path", Path, "JSON file of outcome rules"),
    ("--mid", "mid", str, "merchant id (MID) put in tokens and used when a request has none"),
    ("--merchants", "merchants_file", Path, "TOML merchants file: serve each merchant of it"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flexbridge sandbox",
        description="Flex sandbox emulator. Every flag can also be set as FLEXBRIDGE_SANDBOX_<NAME> "
        "(e.g. FLEXBRIDGE_SANDBOX_APP_KEY).",
    )
    for flag, dest, kind, help_text in _FLAGS:
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=help_text)
    return parser


def _env_name(flag: str) -> str:
    return ENV_PREFIX + flag.removeprefix("--").replace("-", "_").upper()


def config_from_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> SandboxConfig:
    """Flags first, then ``FLEXBRIDGE_SANDBOX_*`` variables, then the development defaults.

    Raises ``SystemExit`` (via argparse) on bad flags, ``pydantic.ValidationError`` on bad values
    and ``MerchantsFileError`` on a merchants file that cannot be used.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for flag, dest, kind, _ in _FLAGS:
        value = getattr(args, dest)
        if value is None and env.get(_env_name(flag), "").strip():
            try:
                value = kind(env[_env_name(flag)].strip())
            except ValueError:
                parser.error(f"{_env_name(flag)}: invalid value {env[_env_name(flag)]!r}")
        if value is not None:
            values[dest] = value
    merchants_file = values.pop("merchants_file", None)
    if merchants_file is not None:
        values["merchants"] = load_merchants(merchants_file)
    return SandboxConfig.model_validate(values)
