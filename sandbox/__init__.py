"""flexbridge sandbox: an emulator of the Flex payment-rescue API for tests, the demo and benchmarks.

Start one in-process with :func:`start_sandbox` or from the command line with ``python -m sandbox``.
"""

from .config import DEV_APP_KEY, DEV_APP_SECRET, DEV_MID, DEV_SUBSCRIBER_KEY, SandboxConfig
from .faults import FaultConfig
from .merchants import Merchant, MerchantsFileError, load_merchants
from .rules import Rule, RuleSet, default_rules, load_rules
from .server import RunningSandbox, build_app, main, start_sandbox

__all__ = [
    "DEV_APP_KEY",
    "DEV_APP_SECRET",
    "DEV_MID",
    "DEV_SUBSCRIBER_KEY",
    "FaultConfig",
    "Merchant",
    "MerchantsFileError",
    "Rule",
    "RuleSet",
    "RunningSandbox",
    "SandboxConfig",
    "build_app",
    "default_rules",
    "load_merchants",
    "load_rules",
    "main",
    "start_sandbox",
]
