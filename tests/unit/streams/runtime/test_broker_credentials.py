"""The Faust app's Kafka clients (order table, commands, reconciler) connect with the same TLS and SASL
as the worker's aiokafka clients: ``build_app`` hands Faust ``broker_credentials``."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from core.settings import KafkaSettings, Settings
from streams.kafka.clients import client_options
from streams.runtime.services import BridgeRuntime
from streams.runtime.worker import broker_credentials, build_app

_SECURITY = ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
_SASL = {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "bridge", "sasl_password": "pw"}


def _security(options: dict[str, Any]) -> dict[str, Any]:
    """The options that decide how a client connects; an SSL context by its type alone."""
    found = {k: options.get(k) for k in (*_SECURITY, "ssl_context") if options.get(k) is not None}
    if "ssl_context" in found:
        found["ssl_context"] = type(found["ssl_context"])
    return found


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"security_protocol": "SSL"},
        {"security_protocol": "SASL_PLAINTEXT", **_SASL},
        {"security_protocol": "SASL_SSL", **_SASL, "sasl_mechanism": "PLAIN"},
    ],
)
def test_faust_gets_the_security_of_the_other_clients(fields: dict[str, str]) -> None:
    k = KafkaSettings(**fields)  # type: ignore[arg-type]
    theirs = _security(credentials_to_aiokafka_auth(broker_credentials(k)))
    assert theirs == {"security_protocol": "PLAINTEXT", **_security(client_options(k))}


def test_the_worker_app_is_built_with_them(tmp_path: Path) -> None:
    settings = Settings.model_validate({"kafka": {"security_protocol": "SASL_SSL", **_SASL}})
    app = build_app(settings, BridgeRuntime(settings), str(tmp_path))
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert (auth["security_protocol"], auth["sasl_plain_username"]) == ("SASL_SSL", "bridge")
    assert isinstance(auth["ssl_context"], ssl.SSLContext)


def test_sasl_without_its_user_stops_the_worker_naming_the_settings() -> None:
    with pytest.raises(ValueError, match="FLEXBRIDGE_KAFKA__SASL_USERNAME, FLEXBRIDGE_KAFKA__SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN")
