"""Exceptions of the Flex client; all derive from :class:`core.errors.FlexbridgeError`.

=====================  =========  =====================  ==========================================
class                  retriable  reason                 raised when
=====================  =========  =====================  ==========================================
``FlexRejected``       False      ``flex-rejected``      Flex answered a permanent 4xx, or a refund
                                                         / capture / tokenize that says FAILED
``FlexNotFound``       False      ``flex-rejected``      404 (or an order lookup with no ``id``)
``FlexConflict``       False      ``flex-rejected``      409: same idempotency key, different body
``FlexAuthFailed``     False      ``flex-auth``          credentials missing or refused, or a 401
                                                         again after a token refresh
``FlexUnavailable``    True       ``retries-exhausted``  timeouts / 429 / 5xx until the deadline
``FlexBadResponse``    False      ``flex-bad-response``  a 2xx body that is not the expected JSON
=====================  =========  =====================  ==========================================

Messages never contain secrets, tokens, request bodies or card numbers.
"""

from __future__ import annotations

from core.errors import FlexbridgeError

__all__ = [
    "FlexAuthFailed",
    "FlexBadResponse",
    "FlexConflict",
    "FlexError",
    "FlexNotFound",
    "FlexRejected",
    "FlexUnavailable",
    "rejection",
    "summarise_errors",
]


class FlexError(FlexbridgeError):
    """Root of the Flex client's errors. ``endpoint`` is e.g. ``"POST /v1/evaluate"``."""

    reason = "flex-error"

    def __init__(
        self, message: str, *, endpoint: str = "", retriable: bool | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, retriable=retriable, reason=reason)
        self.endpoint = endpoint


def summarise_errors(errors: dict[str, list[str]], *, limit: int = 5) -> str:
    """``"OrderId: The OrderId field is required.; Transaction.Id: … (trace 00-…)"``."""
    parts = [f"{field}: {' '.join(msgs)}" for field, msgs in errors.items() if field != "TraceId"]
    text = "; ".join(parts[:limit]) + (f"; … {len(parts) - limit} more" if len(parts) > limit else "")
    trace = errors.get("TraceId")
    if trace:
        text = f"{text} (trace {trace[0]})" if text else f"trace {trace[0]}"
    return text or "no details"


class FlexRejected(FlexError):
    """Flex refused the request for good: retrying the same request cannot succeed.

    ``status_code`` is the HTTP status (200 for a refund/capture answered ``status: FAILED``);
    ``errors`` maps field (or error code) → messages, as parsed by
    :func:`schemas.flex.parse_error_body`.
    """

    retriable = False
    reason = "flex-rejected"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        errors: dict[str, list[str]] | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status_code = status_code
        self.errors: dict[str, list[str]] = dict(errors or {})


class FlexNotFound(FlexRejected):
    """404: no such order."""


class FlexConflict(FlexRejected):
    """409: the idempotency key was already used with a different body."""


class FlexAuthFailed(FlexError):
    """Flex credentials are missing, wrong, or refused; fix the configuration."""

    retriable = False
    reason = "flex-auth"

    def __init__(self, message: str, *, status_code: int | None = None, endpoint: str = "") -> None:
        super().__init__(message, endpoint=endpoint)
        self.status_code = status_code


class FlexUnavailable(FlexError):
    """Every attempt failed with a retriable outcome until the deadline; try again later.

    ``last_failure`` is the last status code or error name (``"503"``, ``"timeout"``);
    ``status_code`` is the last HTTP status, if the last attempt got one; ``retry_after`` the
    wait its ``Retry-After`` asked for, if it sent one (a caller retrying later honours it).
    """

    retriable = True
    reason = "retries-exhausted"

    def __init__(
        self,
        *,
        endpoint: str,
        last_failure: str,
        attempts: int,
        elapsed_seconds: float,
        status_code: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        plural = "attempt" if attempts == 1 else "attempts"
        message = f"{endpoint}: {last_failure} after {attempts} {plural} in {elapsed_seconds:.1f} s"
        super().__init__(message + (f" ({detail})" if detail else ""), endpoint=endpoint)
        self.retry_after = retry_after
        self.last_failure = last_failure
        self.attempts = attempts
        self.elapsed_seconds = elapsed_seconds
        self.status_code = status_code


class FlexBadResponse(FlexError):
    """A success status whose body is not what the Flex API documents (not JSON, wrong shape)."""

    retriable = False
    reason = "flex-bad-response"

    def __init__(self, message: str, *, status_code: int, endpoint: str = "") -> None:
        super().__init__(message, endpoint=endpoint)
        self.status_code = status_code


def rejection(endpoint: str, status_code: int, errors: dict[str, list[str]]) -> FlexRejected:
    """The right :class:`FlexRejected` subclass for a permanent HTTP status."""
    cls = {404: FlexNotFound, 409: FlexConflict}.get(status_code, FlexRejected)
    message = f"{endpoint}: {status_code} {summarise_errors(errors)}"
    return cls(message, status_code=status_code, errors=errors, endpoint=endpoint)
