"""Benchmarks of flexbridge against baselines measured in the same run (``make bench``)."""

__all__: list[str] = []
