"""Load and check the settings; a bad value stops the process with a message naming the variable."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from core.errors import FlexbridgeError
from core.settings import Settings

__all__ = [
    "ConfigError",
    "env_name",
    "load_settings",
    "require_flex_credentials",
    "secret_variables",
    "setting_names",
    "unknown_variables",
    "unparsed_setting",
]


class ConfigError(FlexbridgeError):
    reason = "config"


def env_name(loc: tuple[int | str, ...]) -> str:
    """('flex', 'base_url') → FLEXBRIDGE_FLEX__BASE_URL."""
    return "FLEXBRIDGE_" + "__".join(str(part).upper() for part in loc)


def unparsed_setting(exc: SettingsError) -> tuple[str, str]:
    """The variable and the problem of a section set as one variable whose JSON does not parse
    (``FLEXBRIDGE_FLEX=…``): pydantic-settings names the section's field, not the variable."""
    field = re.search(r'field "(\w+)"', str(exc))
    name = env_name((field.group(1),)) if field else "FLEXBRIDGE_…"
    return name, f"not valid JSON ({exc.__cause__}); or set its fields one by one, as {name}__NAME"


# FLEXBRIDGE_ variables that are no setting of core/settings.py: the embedded broker's, the
# sandbox's and `flexbridge replay`'s own (streams/cli.py, sandbox/cli.py, streams/ops/arguments.py)
_NOT_SETTINGS = ("FLEXBRIDGE_BROKER_PORT", "FLEXBRIDGE_SANDBOX_", "FLEXBRIDGE_REPLAY_")


def setting_names() -> frozenset[str]:
    """Every variable pydantic-settings reads: a top-level field (a section as JSON, or
    FLEXBRIDGE_MERCHANTS_FILE) and each field of a section."""
    names = {env_name((top,)) for top in Settings.model_fields}
    for section, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names.update(env_name((section, name)) for name in field.annotation.model_fields)
    return frozenset(names)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Each ``FLEXBRIDGE_`` variable that names no setting, with the one it was likely meant to be:
    pydantic-settings reads only the names it knows, so a typo in a section's name
    (``FLEXBRIDGE_TOPIC__STATUS``) or one underscore for two (``FLEXBRIDGE_KAFKA_BOOTSTRAP_SERVERS``)
    would be ignored without a word and the worker would run on the default."""
    known = setting_names()
    problems = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings reads the names in any case
        if not upper.startswith("FLEXBRIDGE_") or upper.startswith(_NOT_SETTINGS) or upper in known:
            continue
        problems.append(f"{name}: no such setting{_hint(upper, known)}")
    return problems


def _hint(upper: str, known: frozenset[str]) -> str:
    """The setting closest to ``upper``, if one is close (compared without the common prefix,
    which would make every name look alike)."""
    rest = upper.removeprefix("FLEXBRIDGE_")
    close = difflib.get_close_matches(rest, [k.removeprefix("FLEXBRIDGE_") for k in known], n=1, cutoff=0.8)
    if not close:
        return ""
    meant = "FLEXBRIDGE_" + close[0]
    if "__" not in rest and close[0].replace("__", "_") == rest:
        return f" (a section's fields take two underscores: {meant})"
    return f" (did you mean {meant}?)"


def secret_variables() -> frozenset[str]:
    """The variables of every secret setting (a ``SecretStr`` field of a section)."""
    return frozenset(
        env_name((section, name))
        for section, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        for name, inner in field.annotation.model_fields.items()
        if "SecretStr" in str(inner.annotation)
    )


def load_settings() -> Settings:
    unknown = unknown_variables(os.environ)
    if unknown:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  {p}" for p in unknown))
    try:
        return Settings()
    except SettingsError as exc:
        name, problem = unparsed_setting(exc)
        raise ConfigError(f"invalid configuration:\n  {name}: {problem}") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            where = f"{env_name(err['loc'])}: " if err["loc"] else ""  # a rule across settings names them
            lines.append(f"  {where}{err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None


def require_flex_credentials(settings: Settings) -> None:
    missing = [
        env_name(("flex", name)) for name in ("app_key", "app_secret") if getattr(settings.flex, name) is None
    ]
    if missing:
        raise ConfigError("missing required setting(s): " + ", ".join(missing))
