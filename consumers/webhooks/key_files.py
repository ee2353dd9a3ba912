"""A merchant's webhook subscriber keys read again from their files (``subscriber_key_file``,
``previous_subscriber_key_file`` of the merchants file) when a delivery fails the signature check.

A key rotated in the merchant's Flex portal and then in the mounted files (a Kubernetes secret
updates its files in place) is taken without a restart. The files are read at most once a second
per merchant, whatever the rate of refused deliveries. New keys are taken only whole and valid: the
current key readable and the portal's (base64 of 64 bytes), neither of them another merchant's
(the rules the merchants file is held to at start); otherwise the keys in use stay, and an error
line says why (once for each new problem).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from consumers.webhooks.signature import KeyName, Keys
from core.merchants import Merchant
from core.merchants_file import read_secret_again
from core.webhook_key import decode_key

__all__ = ["LOOK_EVERY_SECONDS", "KeyFiles"]

log = logging.getLogger(__name__)

LOOK_EVERY_SECONDS = 1.0


class KeyFiles:
    """The key files of ``merchant`` (its ``subscriber_key_file`` is set). ``taken(raw)``: the name
    of another merchant whose keys hold ``raw``, or None."""

    def __init__(
        self,
        merchant: Merchant,
        taken: Callable[[bytes], str | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert merchant.subscriber_key_file is not None  # noqa: S101  # the caller's rule
        self._name = merchant.name
        self._current = merchant.subscriber_key_file
        self._previous: Path | SecretStr | None = (
            merchant.previous_subscriber_key_file or merchant.previous_subscriber_key
        )
        self._taken = taken
        self._clock = clock
        self._next_look = 0.0
        self._problem: str | None = None

    def keys_again(self, in_use: Keys) -> Keys | None:
        """The keys now in the files when they differ from ``in_use`` (the verifier's) and are whole
        and valid; else None (the verifier keeps its keys)."""
        now = self._clock()
        if now < self._next_look:
            return None
        self._next_look = now + LOOK_EVERY_SECONDS
        try:
            keys = self._read()
        except ValueError as exc:
            if str(exc) != self._problem:
                name = self._name
                log.error("merchant %s: webhook keys not read again (%s): the keys in use stay", name, exc)
            self._problem = str(exc)
            return None
        self._problem = None
        if keys == in_use:
            return None
        log.warning("merchant %s: webhook subscriber keys read again from %s", self._name, self._current)
        return keys

    def _read(self) -> Keys:
        current = read_secret_again(self._current)
        if current is None:
            raise ValueError(f"{self._current} cannot be read or is empty")
        keys: list[tuple[KeyName, bytes]] = [("current", decode_key(current, setting=str(self._current)))]
        previous, where = self._previous, "previous_subscriber_key"
        if isinstance(previous, Path):
            text, where = read_secret_again(previous), str(previous)
            previous = None if text is None else SecretStr(text)  # emptied: the rotation is over
        if previous is not None:
            keys.append(("previous", decode_key(previous, setting=where)))
        for _, raw in keys:
            if (other := self._taken(raw)) is not None:
                raise ValueError(f'a key in the files is merchant "{other}"\'s')
        return tuple(keys)
