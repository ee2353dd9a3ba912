"""A batch response row as an OrderStatus, and its metric label (streams/runtime/batch/poller.py)."""

from __future__ import annotations

import logging

from consumers.sftp.registry import SentRecord
from schemas.batch import ResultRow
from schemas.status import FLEX_STATUSES, OrderStatus, Status, status_of

__all__ = ["NO_RESULT", "log_answered", "log_unknown_row", "matches", "result_label", "result_status"]

log = logging.getLogger("streams.runtime.batch.poller")

NO_RESULT = "no-batch-result"
_KNOWN_RESULTS = FLEX_STATUSES | {"REJECTED", "SUCCESS"}  # SUCCESS: a transmit file's row


def result_label(flex_status: str) -> str:
    """A response row's status as the ``status`` label of its metric: the file's text is free, so a
    status flexbridge does not know counts as ``OTHER`` (a label value per typo would be a series)."""
    status = flex_status.upper()
    return status if status in _KNOWN_RESULTS else "OTHER"


def result_status(file: str, row: ResultRow, sent: SentRecord | None, mid: str | None = None) -> OrderStatus:
    """The OrderStatus of one response row (``sent`` is what we uploaded, when this worker knows it;
    ``mid``: the merchant's whose outbound folder held the file, named in ``detail.mid``)."""
    flex = row.status.upper()
    rejected = flex == "REJECTED"
    status: Status = "REJECTED" if rejected else flex if flex in FLEX_STATUSES else "SUBMITTED"  # type: ignore[assignment]
    detail: dict[str, object] = {
        "batchFile": file,
        "sequenceNumber": row.sequence_number,
        "flexStatus": row.status,
    }
    detail["idempotencyKey"] = sent.idempotency_key if sent else row.idempotency_key
    if rejected:
        detail["errorCode"] = row.error_code
    if mid:
        detail["mid"] = mid
    return status_of(
        sent.order_id if sent else row.order_id,
        status,
        "batch",
        sent.event_id if sent else f"batch:{file}#{row.sequence_number}",
        session_key=None if rejected else row.order_session_key,
        reason=(row.error_message or row.error_code or "rejected by Flex") if rejected else None,
        detail=detail,
    )


def matches(row: ResultRow, sent: SentRecord) -> bool:
    """Whether a response row is about the record the file had at its sequence number: the same
    ``orderId``, and the same ``idempotencyKey`` when the row has one."""
    return row.order_id == sent.order_id and row.idempotency_key in ("", sent.idempotency_key)


def log_unknown_row(name: str, row: ResultRow, done_dir: str, sent: SentRecord | None = None) -> None:
    """A row that matches no record of the uploaded file: its sequence number is not in it, or
    (``sent``) the record there is another order's."""
    where = (
        "is not in the uploaded file"
        if sent is None
        else f"is not the uploaded file's record there (orderId {sent.order_id}, "
        f"idempotencyKey {sent.idempotency_key})"
    )
    log.warning(
        "batch response %s: sequence number %d (orderId %s, status %s) %s; "
        "no status published, the file kept in %s/",
        name,
        row.sequence_number,
        row.order_id,
        row.status,
        where,
        done_dir,
    )


def log_answered(name: str, rows: int, new: int, left: int) -> None:
    """A response file read: ``new`` rows published, ``left`` records of its file still waiting."""
    if left:
        log.warning(
            "batch response %s has %d rows: of %d records awaiting a result, %d answered, %d not: "
            "waiting for a later response until the result timeout",
            name,
            rows,
            left + new,
            new,
            left,
        )
    elif new < rows:
        log.info("batch response %s: %d of its %d rows were published already", name, rows - new, rows)
