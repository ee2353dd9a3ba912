"""Fault injection settings and the seeded dice that decide which request gets which fault.

Each request on a matching path draws one number in [0, 1); the rates are disjoint slices of that
range in the order drop, timeout, error status, after-effect, so they must add up to at most 1.
"""

from __future__ import annotations

import random
from fnmatch import fnmatchcase
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from .merchants import Merchant

__all__ = ["FaultConfig", "FaultInjector", "FaultKind"]

FaultKind = Literal["drop", "timeout", "error", "after-effect"]
_TOKEN_PATH = "/v1/oauth2/token"  # a URL path  # noqa: S105


class FaultConfig(BaseModel):
    """The body of ``POST /_sandbox/faults`` (camelCase on the wire, every field optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    rate: float = Field(default=0.0, ge=0, le=1)
    statuses: tuple[int, ...] = (500, 503, 429)
    retry_after_seconds: int = Field(default=1, ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_seconds: float = Field(default=30.0, ge=0)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    after_effect_rate: float = Field(default=0.0, ge=0, le=1)
    paths: tuple[str, ...] = ()
    # Names or MIDs of the merchants whose calls are faulted (empty: every call). A call is a
    # merchant's by its bearer token; the token call itself, by the app key it sends.
    merchants: tuple[str, ...] = ()
    seed: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.rate + self.timeout_rate + self.drop_rate + self.after_effect_rate > 1.0 + 1e-9:
            raise ValueError("rate + timeoutRate + dropRate + afterEffectRate must not exceed 1")
        if self.rate > 0 and not self.statuses:
            raise ValueError("statuses must not be empty when rate > 0")
        if any(not 400 <= status <= 599 for status in self.statuses):
            raise ValueError("statuses must be HTTP error codes (400-599)")
        return self

    def wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


class FaultInjector:
    """Holds the active :class:`FaultConfig` and its random generator (seeded when asked)."""

    def __init__(self) -> None:
        self.config = FaultConfig()
        self._rng = random.Random()  # fault dice, not secrets  # noqa: S311

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)  # seeded fault dice  # noqa: S311

    def clear(self) -> None:
        self.configure(FaultConfig())

    def applies(self, path: str, merchant: Merchant | None = None) -> bool:
        """Whether faults and latency apply to this /v1 path called by ``merchant``."""
        if self.config.merchants and (merchant is None or not merchant.answers_to(self.config.merchants)):
            return False
        if self.config.paths:
            return any(fnmatchcase(path, pattern) for pattern in self.config.paths)
        return path.startswith("/v1/") and path != _TOKEN_PATH

    def draw(self) -> FaultKind | None:
        config = self.config
        slices: tuple[tuple[FaultKind, float], ...] = (
            ("drop", config.drop_rate),
            ("timeout", config.timeout_rate),
            ("error", config.rate),
            ("after-effect", config.after_effect_rate),
        )
        if not any(rate for _, rate in slices):
            return None
        point = self._rng.random()
        for kind, rate in slices:
            if point < rate:
                return kind
            point -= rate
        return None

    def error_status(self) -> int:
        return self._rng.choice(self.config.statuses)

    def after_effect_drops(self) -> bool:
        """After-effect faults: True = drop the connection, False = answer 503."""
        return self._rng.random() < 0.5
