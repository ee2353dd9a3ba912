"""URLs flexbridge is configured with: none may carry credentials.

A user name and password in a URL (``https://user:secret@host``) would be shown wherever the URL
is: ``repr`` of the settings, ``flexbridge check``'s output, log lines. flexbridge authenticates
to Flex with a token fetched with the app key and secret, which are settings of their own
(``SecretStr``), so a URL never needs them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["refuse_userinfo"]


def refuse_userinfo(url: str) -> str:
    """``url`` unchanged, or ValueError if it has a user name or password; the message does not
    quote the URL (a validation error is printed with the setting's name)."""
    if "@" in urlsplit(url).netloc:
        raise ValueError(
            "must not carry a user name or password (user:secret@host): they would be shown "
            "wherever the URL is; give the URL without them"
        )
    return url
