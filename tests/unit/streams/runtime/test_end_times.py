"""How long a partition's oldest record not committed has waited (streams/runtime/offsets.py
``EndTimes``): from when its reader saw the partition's end pass the committed offset."""

from __future__ import annotations

from streams.runtime.offsets import EndTimes


def test_a_commit_at_the_end_has_waited_nothing() -> None:
    ends = EndTimes()
    ends.saw(10, now=100.0)
    assert ends.waited(10, now=500.0) == 0.0
    assert ends.waited(12, now=500.0) == 0.0  # a commit past the end seen (a marker skipped)


def test_the_wait_counts_from_when_the_end_first_passed_the_commit() -> None:
    ends = EndTimes()
    ends.saw(10, now=100.0)
    ends.saw(30, now=200.0)
    ends.saw(50, now=300.0)
    assert ends.waited(5, now=400.0) == 300.0  # offset 5 was there at the first sample
    assert ends.waited(10, now=400.0) == 200.0  # offset 10 came after it, by 200
    assert ends.waited(30, now=400.0) == 100.0
    assert ends.waited(50, now=400.0) == 0.0


def test_a_commit_moving_on_drops_what_it_passed_and_never_goes_back() -> None:
    ends = EndTimes()
    for t, end in ((100.0, 10), (200.0, 20), (300.0, 30)):
        ends.saw(end, now=t)
    assert ends.waited(20, now=400.0) == 100.0
    assert ends.waited(0, now=400.0) == 100.0  # samples the commit passed are gone: a lower bound


def test_an_end_that_does_not_grow_adds_nothing() -> None:
    ends = EndTimes()
    ends.saw(10, now=100.0)
    ends.saw(10, now=200.0)
    ends.saw(None, now=300.0)  # not fetched yet
    assert ends.waited(0, now=400.0) == 300.0


def test_samples_within_a_few_seconds_count_from_the_first() -> None:
    ends = EndTimes()
    ends.saw(10, now=100.0)
    ends.saw(20, now=100.0 + EndTimes.EVERY / 2)
    assert ends.waited(10, now=200.0) == 100.0  # over-counted by less than EVERY


def test_a_full_history_keeps_its_oldest_sample_exact() -> None:
    ends = EndTimes()
    for i in range(EndTimes.KEEP + 50):
        ends.saw(i + 1, now=i * EndTimes.EVERY)
    now = (EndTimes.KEEP + 50) * EndTimes.EVERY
    assert ends.waited(0, now=now) == now  # the first sample, at 0
    # the newest sample was moved forward: a record past the history's last exact sample is counted
    # from the newest sample's time (under-counted), never from an older one
    assert ends.waited(EndTimes.KEEP + 40, now=now) == EndTimes.EVERY
