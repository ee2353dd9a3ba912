"""The base every flexbridge package shares.

the one settings class and its loader, the exception tree, the card-number guard.
"""

__all__: list[str] = []
