"""A record is FAILED ``no-batch-result`` only when a poll that succeeded after its deadline found
no result for it: an SFTP outage longer than the result timeout delays results, it does not fail them."""

from __future__ import annotations

from tests.unit.streams.runtime.poller_support import RESPONSE, response, setup


async def test_an_outage_past_the_deadline_fails_nothing_and_the_waiting_responses_are_read_after() -> None:
    clock, sftp, _, metrics, polling = setup(3)
    clock.now = 1010.0
    await polling.round()  # one good poll: nothing yet
    sftp.down = True
    clock.now = 1030.0
    sftp.put(RESPONSE, response([(1, "O-1"), (2, "O-2"), (3, "O-3")]))  # Flex answers, unread
    for now in (1050.0, 1100.0, 1200.0):  # the deadline (1060) passes while every poll fails
        clock.now = now
        await polling.round()
    assert polling.sent == [] and polling.missing == 0
    text = metrics.render().decode()
    assert 'flexbridge_batch_poll_failures_total{merchant="default"} 3.0' in text
    sftp.down = False
    clock.now = 1210.0
    await polling.round()
    assert [(s.order_id, s.status, s.event_id) for s in polling.sent] == [
        ("O-1", "SUBMITTED", "evt-1"),
        ("O-2", "SUBMITTED", "evt-2"),
        ("O-3", "SUBMITTED", "evt-3"),
    ]
    assert polling.missing == 0


async def test_a_record_fails_only_after_a_good_poll_past_its_deadline_found_no_result() -> None:
    clock, _, _, _, polling = setup(2)
    clock.now = 1061.0  # the deadline (1060) passed, but a response written at 1060 is not ready yet
    await polling.round()
    assert polling.sent == []
    clock.now = 1062.5
    await polling.round()
    assert [(s.order_id, s.status, s.reason) for s in polling.sent] == [
        ("O-1", "FAILED", "no-batch-result"),
        ("O-2", "FAILED", "no-batch-result"),
    ]


async def test_a_response_written_just_before_the_deadline_is_read_not_failed() -> None:
    clock, sftp, _, _, polling = setup(1)
    clock.now = 1059.5
    sftp.put(RESPONSE, response([(1, "O-1")]))
    clock.now = 1060.5  # past the deadline; the file is younger than min_age and is not read yet
    await polling.round()
    assert polling.sent == []
    clock.now = 1062.0
    await polling.round()
    assert [(s.order_id, s.status) for s in polling.sent] == [("O-1", "SUBMITTED")]
