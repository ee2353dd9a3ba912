"""Settings refused at load (core/settings_rules.py): a CA file that cannot be used, a blank group
id, two listeners on one port, two topic roles on one topic; each message names the variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    return str(err.value)


def test_a_missing_ca_file_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    text = refusal(
        monkeypatch,
        FLEXBRIDGE_KAFKA__SECURITY_PROTOCOL="SSL",
        FLEXBRIDGE_KAFKA__SSL_CAFILE="/nonexistent/ca.pem",
    )
    assert "FLEXBRIDGE_KAFKA__SSL_CAFILE: " in text and "cannot read /nonexistent/ca.pem" in text


def test_a_ca_file_that_holds_no_certificate_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    text = refusal(monkeypatch, FLEXBRIDGE_KAFKA__SSL_CAFILE=str(garbage))
    assert "FLEXBRIDGE_KAFKA__SSL_CAFILE: " in text and "holds no PEM CA certificate" in text


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_group_id_is_refused(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    text = refusal(monkeypatch, FLEXBRIDGE_KAFKA__GROUP_ID=blank)
    assert "FLEXBRIDGE_KAFKA__GROUP_ID: " in text and "must not be blank" in text


ANY = "0.0.0.0"  # noqa: S104  (a settings value, never bound here)


@pytest.mark.parametrize(("web", "hook"), [(ANY, "127.0.0.1"), ("127.0.0.1", "127.0.0.1"), ("::1", "::")])
def test_the_webhook_port_on_the_web_port_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, web: str, hook: str
) -> None:
    text = refusal(
        monkeypatch,
        FLEXBRIDGE_WEB__HOST=web,
        FLEXBRIDGE_WEB__PORT="17401",
        FLEXBRIDGE_WEBHOOK__HOST=hook,
        FLEXBRIDGE_WEBHOOK__PORT="17401",
    )
    assert "FLEXBRIDGE_WEBHOOK__PORT and FLEXBRIDGE_WEB__PORT are both 17401" in text


def test_one_port_on_two_addresses_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_WEB__HOST", "127.0.0.1")
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOK__HOST", "127.0.0.2")
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOK__PORT", "6066")
    assert load_settings().webhook.port == load_settings().web.port == 6066


@pytest.mark.parametrize(
    ("first", "second"), [("STATUS", "APPROVED"), ("APPROVED", "DECLINED"), ("DLQ", "LEDGER")]
)
def test_two_topic_roles_on_one_topic_are_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, first: str, second: str
) -> None:
    text = refusal(
        monkeypatch,
        **{f"FLEXBRIDGE_TOPICS__{first}": "shared.topic", f"FLEXBRIDGE_TOPICS__{second}": "shared.topic"},
    )
    names = sorted([first, second], key=["APPROVED", "DECLINED", "STATUS", "DLQ", "LEDGER"].index)
    assert f"FLEXBRIDGE_TOPICS__{names[0]} and FLEXBRIDGE_TOPICS__{names[1]} are both shared.topic" in text
