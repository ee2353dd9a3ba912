"""Reading the merchants file (``FLEXBRIDGE_MERCHANTS_FILE``, TOML, DESIGN.md §2.9).

This module only reads: the TOML document into its ``[[merchants]]`` entries, and each ``*_file``
secret into the value it names (surrounding whitespace stripped). The model and the checks that
need it are :mod:`core.merchants`. Every problem is a :class:`~core.config.ConfigError` whose
message names the merchant and the field (:func:`core.merchants.load_merchants` adds the file).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any, Final

from core.config import ConfigError

__all__ = [
    "ENV_NAME",
    "SECRET_FIELDS",
    "entry_label",
    "read_entries",
    "read_secret_again",
    "read_secret_files",
    "unknown_fields",
]

ENV_NAME: Final = "FLEXBRIDGE_MERCHANTS_FILE"
# Secrets given inline (``app_secret = "…"``) or read from a file (``app_secret_file = "/run/…"``).
SECRET_FIELDS: Final = ("app_secret", "subscriber_key", "previous_subscriber_key")


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The ``[[merchants]]`` tables of the file at ``path``, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file ({type(exc).__name__})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line L, column C)"
        raise ConfigError(f"not valid TOML: {exc}") from None
    others = sorted(set(document) - {"merchants"})
    if others:
        raise ConfigError(f"unknown top-level key(s) {', '.join(others)} (expected [[merchants]] tables)")
    entries = document.get("merchants")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("expected at least one [[merchants]] table")
    return entries


def entry_label(entry: dict[str, Any], index: int) -> str:
    """How a message names an entry: ``merchant "acme"``, or ``merchant #2`` (1-based) without a name."""
    name = entry.get("name")
    return f'merchant "{name}"' if isinstance(name, str) and name else f"merchant #{index + 1}"


def unknown_fields(entry: dict[str, Any], known: Collection[str]) -> list[str]:
    """A problem for each field of ``entry`` not in ``known``, with the field it was likely meant
    to be: a misspelt ``app_secret_file`` is named itself, not only as a missing secret."""
    problems = []
    for field in sorted(set(entry) - set(known)):
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(f"{field}: Extra inputs are not permitted (an unknown field{hint})")
    return problems


def read_secret_files(entry: dict[str, Any], label: str) -> dict[str, Any]:
    """``entry`` with each ``<secret>_file`` replaced by ``<secret>`` (the file's text, stripped)."""
    resolved = dict(entry)
    for field in SECRET_FIELDS:
        file_field = f"{field}_file"
        if file_field not in resolved:
            continue
        if field in resolved:
            raise ConfigError(f"{label}: {field} and {file_field} are both set (keep one)")
        resolved[field] = _read_secret(resolved.pop(file_field), label, file_field)
    return resolved


def read_secret_again(path: Path) -> str | None:
    """The secret in ``path`` now (stripped), as :func:`read_secret_files` reads it; None when the
    file cannot be read or is empty (a rotation half done: the secret in use stays)."""
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _read_secret(value: object, label: str, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{label}: {field} must be a file path")
    try:
        secret = Path(value).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: {field}: cannot read {value} ({type(exc).__name__})") from None
    if not secret:
        raise ConfigError(f"{label}: {field}: {value} is empty")
    return secret
