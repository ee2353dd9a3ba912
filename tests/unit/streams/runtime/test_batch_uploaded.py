"""The files uploaded past a partition's commit, as the batch store keeps them for the next owner."""

from __future__ import annotations

from streams.runtime.batch.uploaded import Uploaded, key_of, partition_of_key


def test_ranges_round_trip_and_cover_only_their_merchants_records() -> None:
    uploaded = Uploaded()
    uploaded.add("acme", 0, 3)
    uploaded.add("acme", 7, 9)
    uploaded.add("bolt", 4, 6)
    read = Uploaded.decode(uploaded.encode(1).encode())
    assert read.span_at("acme", 2) == read.span_at("acme", 3) == (0, 3, None)
    assert read.span_at("acme", 8) == (7, 9, None)
    assert read.span_at("bolt", 5) == (4, 6, None)
    assert read.span_at("acme", 5) is None and read.span_at("bolt", 2) is None


def test_ranges_wholly_before_the_commit_are_forgotten() -> None:
    uploaded = Uploaded()
    uploaded.add("acme", 0, 3)
    uploaded.add("bolt", 4, 6)
    assert Uploaded.decode(uploaded.encode(4)).span_at("bolt", 4) == (4, 6, None)
    assert Uploaded.decode(uploaded.encode(4)).span_at("acme", 3) is None
    assert uploaded.encode(7) == ""  # nothing past the commit: a tombstone


def test_a_value_that_is_not_ranges_covers_nothing() -> None:
    for value in ("", None, b"not json", "[1, 2]", '{"acme": 5}'):
        assert Uploaded.decode(value).span_at("acme", 5) is None


def test_keys_name_their_source_partition_and_are_told_from_file_names() -> None:
    key = key_of("payments.approved", 3)
    assert key.startswith("uploaded:") and partition_of_key(key) is not None
    topic, partition = partition_of_key(key) or ("", -1)
    assert partition == 3 and topic
    assert partition_of_key("transmit_payments.approved_p0003_o000000000000.json") is None


def test_a_range_recorded_before_its_rename_keeps_its_file_name_until_dropped() -> None:
    uploaded = Uploaded()
    uploaded.add("acme", 0, 3)  # an older record: no name
    uploaded.add("acme", 4, 9, "evaluate_x_p0000_o000000000004_acme.json")
    uploaded.add("bolt", 5, 6, "evaluate_x_p0000_o000000000005_bolt.json")
    read = Uploaded.decode(uploaded.encode(0))
    assert read.named() == [
        ("acme", "evaluate_x_p0000_o000000000004_acme.json"),
        ("bolt", "evaluate_x_p0000_o000000000005_bolt.json"),
    ]
    read.drop("bolt", "evaluate_x_p0000_o000000000005_bolt.json")  # never renamed: read again
    assert read.span_at("acme", 7) == (4, 9, "evaluate_x_p0000_o000000000004_acme.json")
    assert read.span_at("acme", 2) == (0, 3, None) and read.span_at("bolt", 5) is None
    assert Uploaded.decode('{"acme": [[0, 3]]}').span_at("acme", 3) == (0, 3, None)  # the format before names
