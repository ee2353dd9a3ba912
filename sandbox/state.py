"""Everything one running sandbox remembers, reachable from the aiohttp app as ``app[STATE]``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .config import SandboxConfig
from .faults import FaultInjector
from .idempotency import IdempotencyStore
from .journal import Journal
from .merchants import MerchantBook
from .orders import OrderBook
from .rules import RuleSet, default_rules, load_rules_file
from .tokens import CardVault, TokenStore

__all__ = ["STATE", "SandboxState"]


class SandboxState:
    """Merchants, tokens, cards, orders, idempotency records, journal, faults, rules and webhook log."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.startup_rules: RuleSet = (
            load_rules_file(config.rules_path) if config.rules_path else default_rules(config.approve_last4)
        )
        self.rules = self.startup_rules
        self.merchants = MerchantBook(config.effective_merchants(), strict=bool(config.merchants))
        self.tokens = TokenStore(config.token_ttl_seconds)
        self.cards = CardVault()
        self.orders = OrderBook()
        self.idempotency = IdempotencyStore(config.idempotency_window_seconds)
        self.journal = Journal(config.journal_limit)
        self.faults = FaultInjector()
        self.webhooks: list[dict[str, Any]] = []
        self.closing = asyncio.Event()
        self.on_reset: list[Callable[[], None]] = []  # e.g. the SFTP server empties its folders

    def reset(self) -> None:
        """Forget journal, orders, idempotency records, faults, webhooks; restore startup rules.

        Tokens and tokenized cards stay valid.
        """
        self.journal.clear()
        self.orders.clear()
        self.idempotency.clear()
        self.faults.clear()
        self.webhooks.clear()
        self.rules = self.startup_rules
        for hook in self.on_reset:
            hook()

    async def pause(self, seconds: float) -> None:
        """Sleep for injected latency or a hang, cut short when the sandbox is closing."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)


STATE: web.AppKey[SandboxState] = web.AppKey("sandbox_state", SandboxState)
