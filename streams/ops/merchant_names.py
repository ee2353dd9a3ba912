"""The merchants file's names, for what operator tools print: a merchant named, not only its mid.

Read from ``FLEXBRIDGE_MERCHANTS_FILE`` as the worker's settings name it; a tool without one, or
with a file it cannot read, prints mids as before (it is output, never a reason to fail).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.config import ConfigError
from core.merchants import mid_key
from core.merchants_file import ENV_NAME, read_entries

__all__ = ["merchant_mids", "merchant_name", "merchant_names"]


def merchant_names() -> dict[str, str]:
    """mid (as :func:`core.merchants.mid_key` matches it) → name, from the merchants file when one is
    set and readable; else empty."""
    path = os.environ.get(ENV_NAME)
    if not path:
        return {}
    try:
        entries = read_entries(Path(path))
    except ConfigError:
        return {}
    return {mid_key(str(e["mid"])): str(e["name"]) for e in entries if "mid" in e and "name" in e}


def merchant_name(mid: str, names: dict[str, str]) -> str | None:
    """The name of the merchant whose mid is ``mid``, in any case, as the worker matches an event's."""
    return names.get(mid_key(mid))


def merchant_mids(wanted: list[str]) -> tuple[str, ...]:
    """The mids (as :func:`core.merchants.mid_key` matches them) of the merchants named ``wanted``
    (``--merchant``), or ValueError naming the setting or the merchants the file has."""
    if not wanted:
        return ()
    if not os.environ.get(ENV_NAME):
        raise ValueError(f"--merchant needs the merchants file: {ENV_NAME} is not set")
    names = merchant_names()
    known = sorted(set(names.values()))
    unknown = [w for w in wanted if w not in known]
    if unknown:
        have = ", ".join(known) or "none"
        raise ValueError(
            f"no merchant named {', '.join(map(repr, unknown))} with a mid in {ENV_NAME} ({have})"
        )
    return tuple(sorted(mid for mid, name in names.items() if name in wanted))
