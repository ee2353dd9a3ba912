"""The webhook subscriber key's one rule: the portal's key is base64 of 64 bytes (flex-api.md §3.4).

The verifier (consumers/webhooks/signature.py) and the start-up checks of the merchants
(core/merchants.py) both decode a key with :func:`decode_key`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from pydantic import SecretStr

__all__ = ["KEY_SETTING", "decode_key"]

KEY_SETTING: Final = "FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY"


def decode_key(key: str | SecretStr, *, setting: str = KEY_SETTING) -> bytes:
    """The raw bytes of a base64 subscriber key; a clear ``ValueError`` naming ``setting`` otherwise."""
    text = key.get_secret_value() if isinstance(key, SecretStr) else key
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise ValueError(f"{setting} is empty or not valid base64 (the portal subscriber key, 64 bytes)")
    if len(raw) != 64:
        raise ValueError(f"{setting} must decode to 64 bytes, got {len(raw)}")
    return raw
