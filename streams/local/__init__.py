"""The embedded stack on one machine.

broker, child processes, demo, realistic traffic and the demo's reconciliation.
"""

__all__: list[str] = []
