"""flexbridge consumers."""

__all__: list[str] = []
