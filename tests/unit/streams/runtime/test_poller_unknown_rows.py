"""A response row for a sequence number the uploaded file never had is no status: it is logged,
counted, and its file kept in ``done/``."""

from __future__ import annotations

import logging

import pytest

from tests.unit.streams.runtime.poller_support import FILE, RESPONSE, history, response, setup


async def test_a_row_for_a_sequence_number_not_uploaded_is_warned_counted_and_not_published(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, sftp, _, metrics, polling = setup(2)
    rows = response([(1, "O-1"), (2, "O-2"), (7, "ORD-GHOST")])
    sftp.put(RESPONSE, rows)
    clock.now = 1010.0
    with caplog.at_level(logging.WARNING):
        await polling.round()
    assert history(polling) == [("O-1", "SUBMITTED", "evt-1"), ("O-2", "SUBMITTED", "evt-2")]
    assert "ORD-GHOST" in caplog.text and "sequence number 7" in caplog.text
    assert 'flexbridge_batch_unknown_rows_total{merchant="default"} 1.0' in metrics.render().decode()
    assert sftp.under("done") == {RESPONSE: rows}  # the evidence stays


async def test_a_row_naming_another_order_than_its_record_is_warned_counted_and_left_waiting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, sftp, registry, metrics, polling = setup(3)
    rows = response([(1, "O-1"), (2, "O-9"), (3, "O-3")])
    rows = rows.replace(b"3,O-3,k3,", b"3,O-3,k-other,")  # the right order, another record's key
    sftp.put(RESPONSE, rows)
    clock.now = 1010.0
    with caplog.at_level(logging.WARNING):
        await polling.round()
    assert history(polling) == [("O-1", "SUBMITTED", "evt-1")]
    assert (
        "sequence number 2 (orderId O-9" in caplog.text and "(orderId O-2, idempotencyKey k2)" in caplog.text
    )
    assert 'flexbridge_batch_unknown_rows_total{merchant="default"} 2.0' in metrics.render().decode()
    assert registry.left(FILE) == 2  # records 2 and 3 still await their result

    sftp.put(RESPONSE, response([(2, "O-2"), (3, "O-3")]))  # Flex writes the file again, right
    clock.now = 1020.0
    await polling.round()
    assert history(polling)[1:] == [("O-2", "SUBMITTED", "evt-2"), ("O-3", "SUBMITTED", "evt-3")]
    assert registry.left(FILE) == 0
