"""The worker's start-up probe of its listening ports (streams/runtime/launch.py ``local_preflight``):
a host name that does not resolve names the HOST setting, a port in use the PORT setting."""

from __future__ import annotations

import socket

import pytest

from core.config import ConfigError
from core.settings import Settings, WebSettings
from streams.runtime.launch import local_preflight


def test_a_host_that_does_not_resolve_names_the_host_setting() -> None:
    settings = Settings(web=WebSettings(host="no-such-host.invalid", port=17401))
    with pytest.raises(ConfigError) as err:
        local_preflight(settings)
    assert str(err.value).startswith("FLEXBRIDGE_WEB__HOST: cannot resolve no-such-host.invalid (")
    assert "FLEXBRIDGE_WEB__PORT" not in str(err.value)


def test_a_port_in_use_names_the_port_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"^FLEXBRIDGE_WEB__PORT: cannot listen on 127.0.0.1:{port} "):
            local_preflight(Settings(web=WebSettings(host="127.0.0.1", port=port)))
