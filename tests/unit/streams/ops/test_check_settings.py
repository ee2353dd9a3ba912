"""``flexbridge check``'s settings check: a variable the worker would refuse fails it too; a routing
change at ``since`` gets a line of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.merchants_file import ENV_NAME
from core.routing import RoutingSettings
from streams.ops.check import routing_changes, settings_checks


def entry(name: str, mid: str) -> str:
    """A merchants file's entry of a merchant routed by the API (it needs no SFTP account)."""
    credentials = 'app_key = "k"\napp_secret = "s"\n'
    return f'[[merchants]]\nname = "{name}"\nmid = "{mid}"\n{credentials}routing = {{ mit = "api" }}\n'


def test_a_misspelt_section_fails_the_check_naming_the_variable_and_the_setting_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_KEY", "key")
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_SECRET", "secret")
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOKS__PRODUCE_TIMEOUT_SECONDS", "30")
    settings, served, results = settings_checks()
    assert settings is None and served is None
    [result] = results
    assert not result.ok and result.setting == "FLEXBRIDGE_WEBHOOKS__PRODUCE_TIMEOUT_SECONDS"
    assert "did you mean FLEXBRIDGE_WEBHOOK__PRODUCE_TIMEOUT_SECONDS?" in result.detail


def test_a_routing_change_is_shown_in_utc_with_how_far_off_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator preparing a roll sees the moment as the workers read it (a zone slip shows)."""
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_KEY", "key")
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_SECRET", "secret")
    monkeypatch.setenv("FLEXBRIDGE_ROUTING__MIT", "sftp")
    monkeypatch.setenv("FLEXBRIDGE_ROUTING__SINCE", "2999-01-01T09:00:00+01:00")
    settings, served, [valid, change] = settings_checks()
    assert (
        settings is not None
        and served is None
        and valid.ok
        and change.ok
        and change.name == "routing (default)"
    )
    before, after = "mit api, transmit api", "mit sftp, transmit api"
    assert change.detail.startswith(
        f"{before} for records produced before 2999-01-01T08:00:00Z, then {after} (in "
    )
    assert change.detail.endswith("h: every worker must run these settings by then)")
    routing = settings.routing
    noon = datetime(2999, 1, 1, 12, tzinfo=UTC)
    [passed] = routing_changes([("acme", routing)], now=noon)
    assert passed.detail.endswith("(passed: every record produced now goes the new way)")
    assert routing_changes([("acme", RoutingSettings())], now=noon) == []  # no since: no line


def test_a_since_that_changes_nothing_says_so_naming_what_a_change_from_sftp_needs() -> None:
    """``mit = "api"`` with ``since`` alone keeps api before it too (previous_mit's default): likely
    a change from sftp whose previous_mit was left out, which a roll would cross."""
    forgot = RoutingSettings(mit="api", since=datetime(2999, 1, 1, tzinfo=UTC))
    [line] = routing_changes([("acme", forgot)])
    assert line.name == "routing (acme)" and line.detail.startswith(
        "since 2999-01-01T00:00:00Z changes nothing: mit api, transmit api before and after"
    )
    assert 'previous_mit / previous_transmit = "sftp"' in line.detail


def test_a_merchants_file_is_loaded_once_and_handed_to_the_later_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The settings check loads the file as the worker does; Flex's, SFTP's and the webhook keys'
    checks take its merchants from there (streams/ops/check_cli.py ``run_checks``)."""
    path = tmp_path / "merchants.toml"
    path.write_text(entry("acme", "mid-acme") + entry("bolt", "mid-bolt"))
    monkeypatch.setenv(ENV_NAME, str(path))
    settings, served, [valid] = settings_checks()
    assert settings is not None and served is not None and valid.ok
    assert [m.name for m in served] == ["acme", "bolt"]
    assert valid.detail == f"every value is valid; {ENV_NAME} lists 2 merchant(s)"

    path.write_text(entry("acme", "mid-acme") + entry("acme", "mid-other"))  # a name twice
    settings, served, [failed] = settings_checks()
    assert settings is not None and served is None
    assert not failed.ok and failed.setting == ENV_NAME and "acme" in failed.detail


def test_a_rule_across_settings_names_its_variables_in_the_setting_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEXBRIDGE_PIPELINE__DRAIN_TIMEOUT_SECONDS", "9")
    settings, _served, [failed] = settings_checks()
    assert settings is None and not failed.ok and failed.setting is not None
    assert failed.setting.startswith("FLEXBRIDGE_PIPELINE__DRAIN_TIMEOUT_SECONDS, FLEXBRIDGE_KAFKA__")


def test_a_blank_app_secret_fails_the_settings_check_as_it_stops_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_KEY", "key")
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_SECRET", "  ")
    settings, served, [failed] = settings_checks()
    assert settings is not None and served is None and not failed.ok
    assert failed.setting == "FLEXBRIDGE_FLEX__APP_SECRET" and "must not be blank" in failed.detail
