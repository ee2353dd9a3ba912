"""Kafka plumbing shared by the worker and the operator tools.

client options, producer and consumer factories, reading to the end, topics, group membership.
"""

__all__: list[str] = []
