"""``flexbridge check``'s settings check: a variable the worker would refuse fails it too."""

from __future__ import annotations

import pytest

from streams.ops.check import settings_checks


def test_a_misspelt_section_fails_the_check_naming_the_variable_and_the_setting_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_KEY", "key")
    monkeypatch.setenv("FLEXBRIDGE_FLEX__APP_SECRET", "secret")
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOKS__PRODUCE_TIMEOUT_SECONDS", "30")
    settings, results = settings_checks()
    assert settings is None
    [result] = results
    assert not result.ok and result.setting == "FLEXBRIDGE_WEBHOOKS__PRODUCE_TIMEOUT_SECONDS"
    assert "did you mean FLEXBRIDGE_WEBHOOK__PRODUCE_TIMEOUT_SECONDS?" in result.detail
