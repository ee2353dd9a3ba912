"""The Flex HTTP client.

Connection pools, the token cache, one attempt loop with retries, typed errors.
"""

__all__: list[str] = []
