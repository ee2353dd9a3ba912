"""Settings refused at load (core/settings.py, core/settings_rules.py); each message names the
variables it concerns."""

from __future__ import annotations

import pytest

from core.config import ConfigError, load_settings


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    return str(err.value)


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_group_id_is_refused(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    text = refusal(monkeypatch, FLEXBRIDGE_KAFKA__GROUP_ID=blank)
    assert "FLEXBRIDGE_KAFKA__GROUP_ID: " in text and "must not be blank" in text
