"""Which way a merchant's records go to Flex: the API or an SFTP batch file (``FLEXBRIDGE_ROUTING__*``,
or a merchant's ``routing`` table in the merchants file).

Two consumer groups read the input topics: the real-time pipeline leaves a record routed to SFTP to
the batch consumer, and the batch consumer takes only such records. The worker holding a
partition's pipeline and the one holding its batch reader each decide with the routing they were
started with. During a rolling restart that changes a routing, or adds a merchant with a route to
SFTP, the two can differ: a record both leave to the other is never sent, and one both take is sent
twice, once by the API and once in a file.

``since`` makes such a change at one moment for every worker: a record produced before it goes by
``previous_mit`` / ``previous_transmit`` (what the workers started with the older settings do; ``api``
for a merchant they do not know, whose records the pipeline dead-letters as ``unknown-merchant``),
one produced from then on by ``mit`` / ``transmit``. Every reader of a record sees the same timestamp,
so they agree, whichever settings each was started with, as long as every worker runs the new ones
by ``since`` (docs/processors.md "Changing a routing").
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

__all__ = ["Route", "RoutingSettings", "utc_text"]

Route = Literal["api", "sftp"]
_ROUTES = ("mit", "transmit")


class RoutingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mit: Route = "sftp"
    transmit: Route = "api"
    since: AwareDatetime | None = None  # from when mit / transmit hold; before: previous_*
    previous_mit: Route = "api"
    previous_transmit: Route = "api"

    def mit_at(self, timestamp_ms: int) -> Route:
        """The route of a managed MIT decline produced at ``timestamp_ms`` (below 0: none, now)."""
        if self.since is None:  # every record, so the usual case first (a field read, ~30 ns)
            return self.mit
        return self.previous_mit if _before(self.since, timestamp_ms) else self.mit

    def transmit_at(self, timestamp_ms: int) -> Route:
        """The route of an approval produced at ``timestamp_ms`` (below 0: none, now)."""
        if self.since is None:
            return self.transmit
        return self.previous_transmit if _before(self.since, timestamp_ms) else self.transmit

    def uses_sftp(self, route: Literal["mit", "transmit"]) -> bool:
        """Whether some record of ``route`` may go by SFTP: now, or produced before ``since``."""
        fields = self.sftp_routes
        return f"routing.{route}" in fields or f"routing.previous_{route}" in fields

    @property
    def sftp_routes(self) -> list[str]:
        """The fields that send something by SFTP, as ``routing.mit``, ``routing.previous_transmit`` …
        (a ``previous_`` one only with ``since``)."""
        fields = [*_ROUTES, *(f"previous_{route}" for route in _ROUTES if self.since is not None)]
        return [f"routing.{field}" for field in fields if getattr(self, field) == "sftp"]

    def describe(self) -> str:
        """``mit sftp, transmit api``; with ``since``, the routes before it too."""
        now = f"mit {self.mit}, transmit {self.transmit}"
        if self.since is None:
            return now
        before = f"mit {self.previous_mit}, transmit {self.previous_transmit}"
        return f"{before} for records produced before {utc_text(self.since)}, then {now}"


def _before(since: datetime, timestamp_ms: int) -> bool:
    # a record without a timestamp (a producer older than Kafka 0.10): the reader's clock
    at_ms = timestamp_ms if timestamp_ms >= 0 else time.time() * 1000
    return at_ms < since.timestamp() * 1000


def utc_text(moment: datetime) -> str:
    """``moment`` in UTC, ISO 8601 with a ``Z`` (``2026-12-08T08:00:00Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
