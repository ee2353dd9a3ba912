"""Settings of the Flex sandbox emulator and its fixed development credentials."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .merchants import Merchant

__all__ = [
    "DEV_APP_KEY",
    "DEV_APP_SECRET",
    "DEV_MID",
    "DEV_SUBSCRIBER_KEY",
    "SINGLE_MERCHANT",
    "SandboxConfig",
]

DEV_APP_KEY = "flexbridge-dev-key"
DEV_APP_SECRET = "flexbridge-dev-secret"  # the published development value  # noqa: S105
DEV_MID = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"
# base64(SHA-512(b"flexbridge-dev-subscriber-key")): 64 bytes, like a portal subscriber key.
DEV_SUBSCRIBER_KEY = (
    "KCZIe952M9ldr5feQg+3Pr8PCF3iKwaXTQWeCCyQSkxp3pjA9Rn1/fWn/yYzZugrelclc9/kuQsG7nro5eppBw=="
)
SINGLE_MERCHANT = "default"  # the name of the one merchant when no merchants file is given


class SandboxConfig(BaseModel):
    """Everything the sandbox needs to start; build it directly or via ``sandbox.server.main``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    app_key: str = DEV_APP_KEY
    app_secret: SecretStr = SecretStr(DEV_APP_SECRET)
    mid: str = DEV_MID
    subscriber_key: SecretStr = SecretStr(DEV_SUBSCRIBER_KEY)
    token_ttl_seconds: float = Field(default=600.0, gt=0)
    rules_path: Path | None = None
    approve_last4: tuple[str, ...] = ("1111", "3184", "5851")
    idempotency_window_seconds: float = Field(default=24 * 3600.0, gt=0)
    journal_limit: int = Field(default=100_000, gt=0)
    # The SFTP server starts when sftp_port is given (0 = a free port); state_dir keeps its keys.
    sftp_port: int | None = Field(default=None, ge=0, le=65535)
    webhook_url: str | None = None
    state_dir: Path | None = None
    sftp_authorized_key: Path | None = None
    # The SFTP server (sandbox/sftp_*.py): one merchant user, its source-address allow-list, how
    # often inbound is scanned and how long a batch order stays SUBMITTED before its final state.
    sftp_username: str = "merchant"
    sftp_allowed_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    sftp_scan_interval_seconds: float = Field(default=0.2, gt=0)
    sftp_settle_seconds: float = Field(default=3.0, ge=0)
    # The webhook sender (sandbox/webhook_sender.py): retries non-2xx answers with backoff.
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_seconds: float = Field(default=0.5, gt=0)
    webhook_backoff_max_seconds: float = Field(default=30.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # Deliveries POSTed at once; the rest wait their turn. Unbounded, thousands of retries queued in
    # one httpx pool cost work proportional to the queue on every request and starved the API.
    webhook_concurrency: int = Field(default=16, ge=1)
    # Multi-merchant mode (``--merchants PATH``, sandbox/merchants.py): these merchants replace the
    # single one of app_key/app_secret/mid/subscriber_key/sftp_username.
    merchants: tuple[Merchant, ...] = ()

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("webhook URL must be an http(s) URL")
        return value

    @field_validator("subscriber_key")
    @classmethod
    def _subscriber_key_is_64_bytes(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("subscriber key must be base64") from exc
        if len(raw) != 64:
            raise ValueError(f"subscriber key must decode to 64 bytes, got {len(raw)}")
        return value

    def effective_merchants(self) -> tuple[Merchant, ...]:
        """The merchants served: those of the merchants file, each with its webhook URL (default
        ``webhook_url/<name>``) and subscriber key (default ``subscriber_key``) filled in; without
        one, the single merchant of the flags, named ``default``."""
        if not self.merchants:
            return (self._single_merchant(),)
        base = None if self.webhook_url is None else self.webhook_url.rstrip("/")
        return tuple(
            merchant.model_copy(
                update={
                    "webhook_url": merchant.webhook_url
                    or (None if base is None else f"{base}/{merchant.name}"),
                    "subscriber_key": merchant.subscriber_key or self.subscriber_key,
                }
            )
            for merchant in self.merchants
        )

    def _single_merchant(self) -> Merchant:
        return Merchant(
            name=SINGLE_MERCHANT,
            mid=self.mid,
            app_key=self.app_key,
            app_secret=self.app_secret,
            subscriber_key=self.subscriber_key,
            sftp_username=self.sftp_username,
            sftp_public_key=self.sftp_authorized_key,
            webhook_url=self.webhook_url,
        )
