"""flexbridge configuration: one settings class, environment prefix ``FLEXBRIDGE_``, nested ``__``.

The names of DESIGN.md §2.7 are contracts (``FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS``,
``FLEXBRIDGE_FLEX__BASE_URL`` …); more are added here with defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.routing import RoutingSettings
from core.settings_rules import check_ca_file, check_drains, check_listeners, check_topics
from core.urls import refuse_userinfo

__all__ = [
    "BatchSettings",
    "FlexSettings",
    "KafkaSettings",
    "LogSettings",
    "OrderSettings",
    "PipelineSettings",
    "ReconcileSettings",
    "RoutingSettings",
    "Settings",
    "SftpSettings",
    "TopicSettings",
    "WebSettings",
    "WebhookSettings",
]

_frozen = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(BaseModel):
    model_config = _frozen

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "flexbridge"
    group_id: str = "flexbridge"
    # Real Kafka: keep on. The embedded broker refuses InitProducerId, so the demo turns it off.
    enable_idempotence: bool = True
    # Compression of what flexbridge produces (statuses, dead letters, ledger, webhooks). Reading needs
    # no setting: every codec (gzip, snappy, lz4, zstd) is decoded whatever the producer chose.
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    rebalance_timeout_ms: int = Field(default=10_000, ge=1_000)
    # Send LeaveGroup when a consumer closes (real Kafka: yes, partitions move at once). The local
    # stack turns it off: see streams/kafka/membership.py for the embedded broker's reason.
    leave_group_on_close: bool = True
    # How long the broker may hold a fetch with no data. Kafka answers as soon as data arrives; the
    # embedded broker sees it only when it looks again, after half the wait left: the stack uses 10 ms.
    fetch_max_wait_ms: int = Field(default=500, ge=1, le=10_000)
    # read_committed: records of a producer transaction that was aborted are never read (Kafka's rule)
    isolation_level: Literal["read_committed", "read_uncommitted"] = "read_committed"
    startup_timeout_seconds: float = Field(default=60.0, gt=0)
    topic_partitions: int = Field(default=8, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, value: str) -> str:
        hosts = [h.strip() for h in value.split(",") if h.strip()]
        if not hosts or any(":" not in h for h in hosts):
            raise ValueError("expected host:port[,host:port…]")
        return ",".join(hosts)

    @field_validator("group_id")
    @classmethod
    def _group_id(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank (the worker's consumer groups are named after it)")
        return value

    _ssl_cafile = field_validator("ssl_cafile")(lambda v: None if v is None else check_ca_file(v))

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        """A SASL protocol needs its mechanism, user and password (else only the connection fails)."""
        if self.security_protocol.startswith("SASL_"):
            names = ("sasl_mechanism", "sasl_username", "sasl_password")
            missing = [f"FLEXBRIDGE_KAFKA__{n.upper()}" for n in names if not getattr(self, n)]
            if missing:
                protocol = f"FLEXBRIDGE_KAFKA__SECURITY_PROTOCOL={self.security_protocol}"
                raise ValueError(f"{protocol} needs " + ", ".join(missing))
        return self


class TopicSettings(BaseModel):
    model_config = _frozen

    approved: str = "payments.approved"
    declined: str = "payments.declined"
    commands: str = "orders.commands"
    status: str = "orders.status"
    webhooks: str = "flex.webhooks"
    dlq: str = "payments.dlq"
    ledger: str = "flexbridge.ledger"
    audit: str = "ops.audit"
    batches: str = "flexbridge.batches"  # the durable batch registry (compacted, keyed by file name)


class FlexSettings(BaseModel):
    model_config = _frozen

    base_url: str = "https://api-sandbox.flexfactor.io/v1/"
    app_key: SecretStr | None = None
    app_secret: SecretStr | None = None
    mid: str | None = None
    site_id: str | None = None
    tokenization_key: SecretStr | None = None
    timeout_seconds: float = Field(default=10.0, gt=0)
    deadline_seconds: float = Field(default=60.0, gt=0)
    backoff_base_seconds: float = Field(default=0.2, gt=0)
    backoff_max_seconds: float = Field(default=10.0, gt=0)
    token_refresh_margin_seconds: float = Field(default=60.0, ge=0)
    max_connections: int = Field(default=200, ge=1)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL with the version segment, e.g. https://…/v1/")
        refuse_userinfo(value)
        return value if value.endswith("/") else value + "/"


class WebSettings(BaseModel):
    model_config = _frozen

    host: str = "0.0.0.0"  # metrics, /ready and webhooks are reached from other hosts  # noqa: S104
    port: int = Field(default=6066, ge=1, le=65535)
    # how other workers reach this one (GET /orders/{id} is forwarded to the order's owner);
    # default http://HOST:PORT, which only works on one machine
    canonical_url: str | None = None
    # When set, every path of the web port but /health and /ready needs "Authorization: Bearer …"
    admin_token: SecretStr | None = None

    _canonical_url = field_validator("canonical_url")(lambda v: None if v is None else refuse_userinfo(v))


class WebhookSettings(BaseModel):
    model_config = _frozen

    # A listener of its own for the public webhook routes only; no port: served on the web port
    host: str = "0.0.0.0"  # noqa: S104
    port: int | None = Field(default=None, ge=1, le=65535)
    subscriber_key: SecretStr | None = None
    previous_subscriber_key: SecretStr | None = None
    max_skew_seconds: int = Field(default=300, ge=0)
    # The receiver answers 503 (Flex retries) when Kafka has not acknowledged within this time.
    produce_timeout_seconds: float = Field(default=5.0, gt=0)
    # Verified webhooks already published are remembered this long (reloaded from flex.webhooks).
    dedupe_window_hours: float = Field(default=168.0, gt=0)
    dedupe_max_entries: int = Field(default=500_000, ge=1)


class SftpSettings(BaseModel):
    model_config = _frozen

    host: str = "127.0.0.1"
    port: int = Field(default=22, ge=1, le=65535)
    username: str = "merchant"
    key_path: Path | None = None
    known_hosts: Path | None = None
    inbound_dir: str = "inbound"
    outbound_dir: str = "outbound"
    key_passphrase: SecretStr | None = None
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    backoff_base_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=10.0, gt=0)


class BatchSettings(BaseModel):
    """SFTP batch files (writer, uploader, result poller)."""

    model_config = _frozen

    max_records: int = Field(default=2000, ge=1, le=2000)
    max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_age_seconds: float = Field(default=60.0, gt=0)
    upload_concurrency: int = Field(default=2, ge=1)
    max_pending_files: int = Field(default=8, ge=1)
    # on revocation, inside the rebalance: see core/settings_rules.py check_drains
    drain_timeout_seconds: float = Field(default=7.0, gt=0)
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    poll_concurrency: int = Field(default=8, ge=1)  # merchants whose outbound folders are polled at once
    # how often a merchant with nothing outstanding is polled (None: every 12 poll intervals)
    idle_poll_interval_seconds: float | None = Field(default=None, gt=0)
    # an unused SFTP connection is closed after this (None: two poll intervals and a second)
    sftp_idle_timeout_seconds: float | None = Field(default=None, gt=0)
    response_pattern: str = "*.response.csv"
    min_age_seconds: float = Field(default=2.0, ge=0)
    done_dir: str = "done"
    error_dir: str = "error"
    claim_dir: str = "processing"
    result_timeout_seconds: float = Field(default=3600.0, gt=0)
    claim_timeout_seconds: float = Field(default=300.0, gt=0)  # then a claim in processing/ is reclaimed
    # the longest wait between two attempts of a failing upload, or of an assigned partition's
    # preparation (registry read-back, inbound listing): both are retried until they succeed
    retry_max_seconds: float = Field(default=60.0, gt=0)


class LogSettings(BaseModel):
    model_config = _frozen

    format: Literal["json", "text"] = "json"


class PipelineSettings(BaseModel):
    model_config = _frozen

    max_in_flight: int = Field(default=256, ge=1)
    fetch_max_records: int = Field(default=1000, ge=1)
    mit_expiry_days: int = Field(default=14, ge=1, le=21)
    commit_interval_seconds: float = Field(default=1.0, gt=0)
    # on revocation, inside the rebalance: see core/settings_rules.py check_drains
    drain_timeout_seconds: float = Field(default=7.0, gt=0)


class ReconcileSettings(BaseModel):
    """Order reconciliation: a non-final order with no news is looked up at Flex (GET /orders/{id})."""

    model_config = _frozen

    after_seconds: float = Field(default=900.0, gt=0)  # no news this long: ask Flex
    interval_seconds: float = Field(default=60.0, gt=0)  # how often a worker checks its orders
    max_per_second: float = Field(default=5.0, gt=0)  # Flex lookups per second, per worker
    # An order that stays unchanged is asked again after a doubling wait (from interval_seconds up to this).
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # Past its expiry (Flex's expiryDate, else the MIT window from its first news) plus this: left alone.
    grace_seconds: float = Field(default=86_400.0, ge=0)


class OrderSettings(BaseModel):
    """The order table (streams/runtime/orders.py) and its commands."""

    model_config = _frozen

    # A final order without news this long leaves the table (and its changelog); 0 keeps every order.
    retention_days: float = Field(default=30.0, ge=0)
    # Copies of other workers' table partitions kept in memory (Faust's standby replicas): they
    # answer GET /orders sooner when a worker leaves, at a second copy's memory; 0: none.
    standby_replicas: int = Field(default=1, ge=0)
    # Commands run at once by a worker (streams/runtime/commands.py); one orderId's one at a time.
    commands_in_flight: int = Field(default=16, ge=1)

    @property
    def retention_seconds(self) -> float | None:  # None: every order is kept
        return self.retention_days * 86_400.0 if self.retention_days else None


class Settings(BaseSettings):
    # extra: pydantic-settings passes on only the variables it knows, so no value of "extra" would
    # catch a misspelt one; core/config.py's unknown_variables refuses those before this is read.
    model_config = SettingsConfigDict(
        env_prefix="FLEXBRIDGE_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    flex: FlexSettings = FlexSettings()
    web: WebSettings = WebSettings()
    webhook: WebhookSettings = WebhookSettings()
    sftp: SftpSettings = SftpSettings()
    routing: RoutingSettings = RoutingSettings()
    pipeline: PipelineSettings = PipelineSettings()
    batch: BatchSettings = BatchSettings()
    log: LogSettings = LogSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    orders: OrderSettings = OrderSettings()
    # FLEXBRIDGE_MERCHANTS_FILE: the TOML file of a processor's merchants (core/merchants.py,
    # docs/processors.md); unset: the flex, sftp, webhook and routing settings describe the one merchant
    merchants_file: Path | None = None

    @model_validator(mode="after")
    def _rules_across_settings(self) -> Settings:
        """The rules of core/settings_rules.py: the drains fit the rebalance, the two listeners
        bind apart, and each topic role has its own topic."""
        check_drains(self)
        check_listeners(self)
        check_topics(self)
        return self
