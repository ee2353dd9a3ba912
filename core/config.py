"""Load and check the settings; a bad value stops the process with a message naming the variable."""

from __future__ import annotations

import re

from pydantic import ValidationError
from pydantic_settings import SettingsError

from core.errors import FlexbridgeError
from core.settings import Settings

__all__ = ["ConfigError", "env_name", "load_settings", "require_flex_credentials", "unparsed_setting"]


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


def load_settings() -> Settings:
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
