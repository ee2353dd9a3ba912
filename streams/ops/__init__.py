"""Operator tools: replay, dead letters, order lookup, and the audit trail of what they sent."""

__all__: list[str] = []
