"""The merchants file (DESIGN.md §2.9): the model and every start-up check, each naming the merchant
and the field (the single-merchant fallback: test_single_merchant.py; the event rule:
test_merchant_lookup.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from core.config import ConfigError
from core.merchants import load_merchants
from core.merchants_file import read_secret_again
from core.settings import RoutingSettings, Settings

KEY = base64.b64encode(bytes(range(64))).decode()
OTHER_KEY = base64.b64encode(bytes(range(1, 65))).decode()
MID_A = "5f1c6a8e-3b2d-4c7a-9e10-2d4b6f8a0c31"
MID_B = "0b7e2d44-91c3-4f5e-8a6b-3c2d1e0f9a87"
INLINE_SECRET = 'app_secret = "s3cret"'


def write(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "merchants.toml"
    path.write_text(text)
    return Settings(merchants_file=path)


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value)
    return path


def entry(name: str = "acme", mid: str = MID_A, **fields: str) -> str:
    """A [[merchants]] table with ``app_secret = "s3cret"`` (see :func:`without_secret`) and ``fields``."""
    lines = [f'mid = "{mid}"', f'name = "{name}"', 'app_key = "key-' + name + '"', INLINE_SECRET]
    lines += [f"{k} = {v}" if v.startswith("{") else f'{k} = "{v}"' for k, v in fields.items()]
    return "[[merchants]]\n" + "\n".join(lines) + "\n"


def without_secret(text: str) -> str:
    return text.replace(INLINE_SECRET + "\n", "")


def api_only(name: str = "acme", mid: str = MID_A, **fields: str) -> str:
    return entry(name, mid, routing='{ mit = "api", transmit = "api" }', **fields)


def config_error(settings: Settings) -> str:
    with pytest.raises(ConfigError) as err:
        load_merchants(settings)
    return str(err.value)


# --- reading the file ---------------------------------------------------------------------------


def test_a_full_entry_is_read_with_its_secrets_from_files(tmp_path: Path) -> None:
    secret = secret_file(tmp_path, "acme-flex", "  flex-secret\n")
    hook = secret_file(tmp_path, "acme-whk", KEY + "\n")
    sftp_key = secret_file(tmp_path, "acme-sftp", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
    text = entry(
        site_id="site-1",
        app_secret_file=str(secret),
        subscriber_key_file=str(hook),
        previous_subscriber_key=OTHER_KEY,
        routing='{ mit = "sftp", transmit = "api" }',
        sftp=f'{{ username = "acme", key_path = "{sftp_key}" }}',
        webhook_url="http://127.0.0.1:9000/hooks/acme",
    )
    text = without_secret(text)
    merchants = load_merchants(write(tmp_path, text))
    m = merchants.by_name("acme")
    assert m is not None and m.mid == MID_A and m.site_id == "site-1"
    assert m.app_key.get_secret_value() == "key-acme"
    assert m.app_secret.get_secret_value() == "flex-secret"  # surrounding whitespace stripped
    assert m.app_secret_file == secret  # read again when Flex refuses the secret (a rotation)
    assert m.subscriber_key is not None and m.subscriber_key.get_secret_value() == KEY
    assert m.previous_subscriber_key is not None and m.previous_subscriber_key.get_secret_value() == OTHER_KEY
    assert m.routing == RoutingSettings(mit="sftp", transmit="api")
    assert m.sftp is not None and m.sftp.username == "acme" and m.sftp.key_path == sftp_key
    assert m.webhook_url == "http://127.0.0.1:9000/hooks/acme"


def test_routing_is_taken_field_by_field_over_the_routing_settings(tmp_path: Path) -> None:
    text = entry(routing='{ transmit = "sftp" }', sftp='{ username = "u", key_path = "K" }')
    secret_file(tmp_path, "K", "key")
    text = text.replace('"K"', f'"{tmp_path / "K"}"')
    m = load_merchants(write(tmp_path, text).model_copy(update={"routing": RoutingSettings(mit="api")})).only
    assert m is not None and m.routing == RoutingSettings(mit="api", transmit="sftp")


def test_an_entry_without_routing_takes_the_routing_settings(tmp_path: Path) -> None:
    settings = write(tmp_path, entry()).model_copy(
        update={"routing": RoutingSettings(mit="api", transmit="api")}
    )
    m = load_merchants(settings).only
    assert m is not None and m.routing == RoutingSettings(mit="api", transmit="api") and m.sftp is None


def test_a_blank_previous_key_is_no_key(tmp_path: Path) -> None:
    m = load_merchants(write(tmp_path, api_only(subscriber_key=KEY, previous_subscriber_key="  "))).only
    assert m is not None and m.previous_subscriber_key is None


# --- the checks at start ------------------------------------------------------------------------


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    text = api_only() + "[[merchants]]\nname = acme\n"
    message = config_error(write(tmp_path, text))
    assert "FLEXBRIDGE_MERCHANTS_FILE=" in message and "not valid TOML" in message and "line 8" in message


def test_an_unreadable_merchants_file_is_named(tmp_path: Path) -> None:
    message = config_error(Settings(merchants_file=tmp_path / "missing.toml"))
    assert f"FLEXBRIDGE_MERCHANTS_FILE={tmp_path / 'missing.toml'}" in message
    assert "FileNotFoundError" in message


@pytest.mark.parametrize("text", ["", "merchants = 3\n", "[other]\nx = 1\n"])
def test_a_file_without_merchant_tables_is_refused(tmp_path: Path, text: str) -> None:
    assert "merchants" in config_error(write(tmp_path, text))


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, api_only("acme", MID_A) + api_only("acme", MID_B)))
    assert 'merchant "acme": name: used by two merchants' in message


def test_duplicate_mids_are_refused(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, api_only("acme", MID_A) + api_only("globex", MID_A)))
    assert f'merchant "globex": mid: {MID_A} is already merchant "acme"\'s' in message


def test_a_webhook_key_two_merchants_share_is_refused_without_quoting_it(tmp_path: Path) -> None:
    text = api_only("acme", MID_A, subscriber_key=KEY) + api_only("globex", MID_B, subscriber_key=OTHER_KEY)
    assert len(load_merchants(write(tmp_path, text))) == 2  # distinct keys
    shared = api_only("acme", MID_A, subscriber_key=KEY)
    shared += api_only("globex", MID_B, subscriber_key=OTHER_KEY, previous_subscriber_key=KEY)
    message = config_error(write(tmp_path, shared))
    assert 'merchant "globex": previous_subscriber_key: the same key as merchant "acme"\'s' in message
    assert KEY not in message
    rotating = api_only("acme", MID_A, subscriber_key=KEY, previous_subscriber_key=KEY)
    assert len(load_merchants(write(tmp_path, rotating))) == 1  # one merchant's own keys may be equal


def test_a_mid_with_a_slash_is_refused(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, api_only("acme", "5f1c/6a8e")))
    assert 'merchant "acme": mid' in message


def test_a_missing_app_secret_is_named(tmp_path: Path) -> None:
    text = without_secret(entry(routing='{ mit = "api" }'))
    assert 'merchant "acme": app_secret: missing' in config_error(write(tmp_path, text))


@pytest.mark.parametrize("field", ["app_key", "app_secret"])
def test_a_blank_credential_is_named(tmp_path: Path, field: str) -> None:
    given = {"app_key": "key-acme", "app_secret": "s3cret"}[field]
    text = entry(routing='{ mit = "api" }').replace(f'{field} = "{given}"', f'{field} = " "')
    assert f'merchant "acme": {field}: Value error, must not be blank' in config_error(write(tmp_path, text))


def test_both_app_secret_and_its_file_are_refused(tmp_path: Path) -> None:
    text = api_only(app_secret_file=str(secret_file(tmp_path, "s", "x")))
    assert 'merchant "acme": app_secret and app_secret_file are both set' in config_error(
        write(tmp_path, text)
    )


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    text = without_secret(entry(app_secret_file=str(missing), routing='{ mit = "api" }'))
    message = config_error(write(tmp_path, text))
    assert f'merchant "acme": app_secret_file: cannot read {missing} (FileNotFoundError)' in message


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    text = api_only(subscriber_key_file=str(secret_file(tmp_path, "whk", " \n")))
    assert 'merchant "acme": subscriber_key_file:' in config_error(write(tmp_path, text))


def test_a_missing_required_field_is_named(tmp_path: Path) -> None:
    text = api_only().replace(f'mid = "{MID_A}"\n', "")
    assert 'merchant "acme": mid: Field required' in config_error(write(tmp_path, text))


def test_an_unknown_field_is_named(tmp_path: Path) -> None:
    text = api_only(app_secert="typo")
    assert 'merchant "acme": app_secert: Extra inputs are not permitted' in config_error(
        write(tmp_path, text)
    )


@pytest.mark.parametrize("name", ["Acme", "acme_corp", "acme corp", ""])
def test_an_invalid_name_is_refused(tmp_path: Path, name: str) -> None:
    message = config_error(write(tmp_path, api_only(name)))
    assert "name: String should match pattern" in message
    assert (f'merchant "{name}"' if name else "merchant #1") in message


def test_a_bad_route_is_named(tmp_path: Path) -> None:
    text = entry(routing='{ mit = "fax" }')
    assert 'merchant "acme": routing.mit:' in config_error(write(tmp_path, text))


def test_an_sftp_route_without_an_account_is_refused(tmp_path: Path) -> None:
    text = entry(routing='{ mit = "api", transmit = "sftp" }')
    message = config_error(write(tmp_path, text))
    assert 'merchant "acme": sftp: required because routing.transmit is "sftp"' in message


def test_an_unreadable_sftp_key_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "acme-sftp"
    text = entry(sftp=f'{{ username = "acme", key_path = "{missing}" }}')
    message = config_error(write(tmp_path, text))
    assert f'merchant "acme": sftp.key_path: cannot read {missing} (FileNotFoundError)' in message


def test_an_sftp_account_needs_its_key(tmp_path: Path) -> None:
    text = entry(sftp='{ username = "acme" }')
    assert 'merchant "acme": sftp.key_path: required' in config_error(write(tmp_path, text))


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "must decode to 64 bytes, got 5"),
    ],
)
def test_a_bad_subscriber_key_is_named(tmp_path: Path, key: str, problem: str) -> None:
    message = config_error(write(tmp_path, api_only("globex", MID_B, subscriber_key=key)))
    assert 'merchant "globex": subscriber_key' in message and problem in message


def test_a_bad_key_read_from_a_file_names_the_file_field(tmp_path: Path) -> None:
    text = api_only(subscriber_key=KEY, previous_subscriber_key_file=str(secret_file(tmp_path, "p", "abcd")))
    message = config_error(write(tmp_path, text))
    assert 'merchant "acme": previous_subscriber_key_file must decode to 64 bytes' in message


def test_a_second_merchant_is_checked_like_the_first(tmp_path: Path) -> None:
    text = api_only("acme", MID_A) + without_secret(entry("globex", MID_B, routing='{ mit = "api" }'))
    assert 'merchant "globex": app_secret: missing' in config_error(write(tmp_path, text))


# --- secrets stay hidden ------------------------------------------------------------------------


def test_secrets_are_not_in_repr_str_or_json(tmp_path: Path) -> None:
    flex_secret = "flex-secret-value"
    text = api_only(subscriber_key=KEY, previous_subscriber_key=OTHER_KEY).replace(
        '"s3cret"', f'"{flex_secret}"'
    )
    m = load_merchants(write(tmp_path, text)).only
    assert m is not None
    for shown in (repr(m), str(m), m.model_dump_json(), repr(load_merchants(write(tmp_path, text)))):
        for secret in (flex_secret, KEY, OTHER_KEY, "key-acme"):
            assert secret not in shown


def test_a_secret_read_again_is_the_files_text_or_none_when_it_cannot_be_read(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "acme-flex", "  rotated\n")
    assert read_secret_again(path) == "rotated"
    path.write_text("\n")  # emptied mid-rotation: the secret in use stays
    assert read_secret_again(path) is None
    assert read_secret_again(tmp_path / "gone") is None


def test_a_misspelt_secret_file_field_is_named_before_the_missing_secret(tmp_path: Path) -> None:
    secret = secret_file(tmp_path, "s", "s3cret")
    text = without_secret(api_only(app_secert=str(secret)))
    message = config_error(write(tmp_path, text))
    assert 'merchant "acme": app_secert: Extra inputs are not permitted' in message
    assert "did you mean app_secret?" in message
    assert message.index("app_secert") < message.index("app_secret: missing")
