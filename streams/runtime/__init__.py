"""The worker.

The Faust app and every flow wired to its topics (pipeline, bridge, batches, webhooks, commands,
orders, ledger, metrics).
"""

__all__: list[str] = []
