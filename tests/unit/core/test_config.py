from __future__ import annotations

import pytest

from core.config import (
    ConfigError,
    load_settings,
    require_flex_credentials,
    setting_names,
    unknown_variables,
)


def test_bad_value_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__BASE_URL", "api.flexfactor.io/v1")
    monkeypatch.setenv("FLEXBRIDGE_WEB__PORT", "seventy")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "FLEXBRIDGE_FLEX__BASE_URL" in text and "FLEXBRIDGE_WEB__PORT" in text


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEXBRIDGE_FLEX__APP_KEY", raising=False)
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_SECRET", "s3cret")
    with pytest.raises(ConfigError, match="FLEXBRIDGE_FLEX__APP_KEY") as err:
        require_flex_credentials(load_settings())
    assert "APP_SECRET" not in str(err.value)


def test_secrets_are_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_SECRET", "s3cret-value")
    settings = load_settings()
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.model_dump())
    assert settings.flex.app_secret is not None
    assert settings.flex.app_secret.get_secret_value() == "s3cret-value"


def test_nested_names_are_contracts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS", "k1:9092, k2:9092")
    monkeypatch.setenv("FLEXBRIDGE_ROUTING__MIT", "api")
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOK__MAX_SKEW_SECONDS", "0")
    monkeypatch.setenv("FLEXBRIDGE_SFTP__PORT", "2222")
    s = load_settings()
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.routing.mit == "api" and s.webhook.max_skew_seconds == 0 and s.sftp.port == 2222


def test_default_drains_fit_within_the_rebalance() -> None:
    s = load_settings()
    budget = (s.kafka.rebalance_timeout_ms - s.kafka.heartbeat_interval_ms) / 1000 - 1.0
    assert s.pipeline.drain_timeout_seconds <= budget and s.batch.drain_timeout_seconds <= budget


@pytest.mark.parametrize("section", ["PIPELINE", "BATCH"])
def test_a_drain_longer_than_the_rebalance_allows_stops_the_worker_naming_it(
    monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    monkeypatch.setenv("FLEXBRIDGE_KAFKA__REBALANCE_TIMEOUT_MS", "10000")
    monkeypatch.setenv("FLEXBRIDGE_KAFKA__HEARTBEAT_INTERVAL_MS", "1000")
    monkeypatch.setenv(f"FLEXBRIDGE_{section}__DRAIN_TIMEOUT_SECONDS", "8.5")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert f"FLEXBRIDGE_{section}__DRAIN_TIMEOUT_SECONDS (8.5 s) must be at most" in text
    assert "FLEXBRIDGE_KAFKA__REBALANCE_TIMEOUT_MS" in text and "(8 s)" in text
    assert "  FLEXBRIDGE_: " not in text


def test_a_drain_within_the_rebalance_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_KAFKA__REBALANCE_TIMEOUT_MS", "30000")
    monkeypatch.setenv("FLEXBRIDGE_PIPELINE__DRAIN_TIMEOUT_SECONDS", "20")
    monkeypatch.setenv("FLEXBRIDGE_BATCH__DRAIN_TIMEOUT_SECONDS", "28")
    s = load_settings()
    assert (s.pipeline.drain_timeout_seconds, s.batch.drain_timeout_seconds) == (20.0, 28.0)


def test_a_section_set_as_unparsable_json_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX", "xyz")
    with pytest.raises(ConfigError, match="FLEXBRIDGE_FLEX: not valid JSON") as err:
        load_settings()
    assert "FLEXBRIDGE_FLEX__NAME" in str(err.value)


def test_a_variable_that_names_no_setting_stops_the_worker_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_KAFKA_BOOTSTRAP_SERVERS", "k1:9092")  # one underscore for two
    monkeypatch.setenv("FLEXBRIDGE_SANDBOX_PORT", "8080")  # the sandbox's own: no setting, not refused
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).splitlines()[1:] == [
        "  FLEXBRIDGE_KAFKA_BOOTSTRAP_SERVERS: no such setting (a section's fields take two underscores:"
        " FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS)"
    ]
    assert (
        unknown_variables({"FLEXBRIDGE_MERCHANTS_FILE": "m.toml", "FLEXBRIDGE_FLEX": "{}", "OTHER": "1"})
        == []
    )


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("FLEXBRIDGE_WEBHOOKS__PRODUCE_TIMEOUT_SECONDS", "FLEXBRIDGE_WEBHOOK__PRODUCE_TIMEOUT_SECONDS"),
        ("FLEXBRIDGE_TOPIC__STATUS", "FLEXBRIDGE_TOPICS__STATUS"),
        ("flexbridge_web__prot", "FLEXBRIDGE_WEB__PORT"),  # pydantic-settings reads any case
        ("FLEXBRIDGE_FLEX__BASE_URL__V1", "FLEXBRIDGE_FLEX__BASE_URL"),
        ("FLEXBRIDGE_MERCHANT_FILE", "FLEXBRIDGE_MERCHANTS_FILE"),
    ],
)
def test_a_variable_of_no_section_stops_the_worker_naming_the_setting_it_likely_meant(
    monkeypatch: pytest.MonkeyPatch, name: str, meant: str
) -> None:
    monkeypatch.setenv(name, "30")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).splitlines()[1:] == [f"  {name}: no such setting (did you mean {meant}?)"]


def test_a_variable_like_no_setting_is_refused_without_a_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_TURBO", "1")
    with pytest.raises(ConfigError, match=r"  FLEXBRIDGE_TURBO: no such setting$"):
        load_settings()


def test_every_setting_and_the_variables_of_other_commands_are_accepted() -> None:
    names = setting_names()
    assert {"FLEXBRIDGE_WEBHOOK__PRODUCE_TIMEOUT_SECONDS", "FLEXBRIDGE_MERCHANTS_FILE"} <= names
    others = {
        "FLEXBRIDGE_BROKER_PORT": "9093",
        "FLEXBRIDGE_SANDBOX_MERCHANTS": "m.toml",
        "FLEXBRIDGE_REPLAY_LAST": "2h",
    }
    assert unknown_variables(dict.fromkeys(names, "") | others) == []
