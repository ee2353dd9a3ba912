"""A response row for a sequence number the uploaded file never had is no status: it is logged,
counted, and its file kept in ``done/``."""

from __future__ import annotations

import logging

import pytest

from tests.unit.streams.runtime.poller_support import RESPONSE, history, response, setup


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
