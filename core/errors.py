"""The one exception root of flexbridge.

Every error flexbridge raises on purpose derives from :class:`FlexbridgeError`. Its ``retriable``
attribute tells a caller whether trying the same thing again later can succeed (a timeout, a 503)
or cannot (a 400 from Flex, a malformed event). ``reason`` is the machine code that ends up in the
``dlq-reason`` header or in an OrderStatus ``reason``. ``retry_after`` is the wait (seconds) the
other side asked for before the next attempt, when it said one (a Flex ``Retry-After``).

:func:`consumers.retry.retry` is the one retry loop: it tries again only errors whose
``retriable`` is true. Errors of the edges are wrapped where they are caught:
``consumers.flex.errors`` (HTTP), ``consumers.sftp.client.SftpError`` (asyncssh) and
``streams.kafka.errors.KafkaFailure`` (aiokafka).
"""

from __future__ import annotations

__all__ = ["FlexbridgeError", "InvalidEvent"]


class FlexbridgeError(Exception):
    """Root of every flexbridge error."""

    retriable: bool = False
    reason: str = "error"
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        retriable: bool | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable
        if reason is not None:
            self.reason = reason
        if retry_after is not None:
            self.retry_after = retry_after


class InvalidEvent(FlexbridgeError):
    """An input record that can never be processed: bad JSON, schema violation, card data."""

    retriable = False
    reason = "schema"
