"""The base every flexbridge package shares.

the one settings class and its loader, the merchants (the file and its checks), the webhook
subscriber key's rule, the exception tree, the card-number guard.
"""

__all__: list[str] = []
