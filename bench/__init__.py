"""Benchmarks of flexbridge against baselines measured in the same run (``make bench``)."""

from streams.cli import quiet_upstream_warnings

__all__: list[str] = []

quiet_upstream_warnings()  # before any benchmark module imports asyncssh, as the flexbridge command does
