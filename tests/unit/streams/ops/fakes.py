"""A reader that knows which topics exist, and nothing more: what streams/ops/scan.py
``partitions_of`` asks of an aiokafka consumer (its metadata, and a fetch of all of it)."""

from __future__ import annotations


class MetadataReader:
    """Each topic of ``topics`` has one partition; any other does not exist."""

    def __init__(self, topics: set[str]) -> None:
        self.topics = topics

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0} if topic in self.topics else None

    async def fetch_all_metadata(self) -> MetadataReader:
        return self

    @property
    def _client(self) -> MetadataReader:
        return self
