"""Which subscriber keys verify a delivery: the merchant's of its path, or the plain path's.

``POST /webhooks/flex/{name}`` is verified with merchant ``name``'s subscriber key and, during a
rotation, its previous one (DESIGN.md §2.9): a signature made with another merchant's key does not
verify. ``POST /webhooks/flex`` stays for the single-merchant case: the keys of
``FLEXBRIDGE_WEBHOOK__*`` when set, else those of the one merchant configured. With several
merchants it has no receiver (404, naming the merchants' paths): a delivery there would belong to
no merchant, so neither its order nor its dedupe scope could be told.

Each merchant's deliveries are deduplicated in a scope of their own: the dedupe key is prefixed
with the merchant's name (``acme/order.completed:…``), except for the merchant of the
single-merchant settings, whose keys stay as they always were. A merchant whose key comes from a
file has its key files read again on a failed signature (consumers/webhooks/key_files.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from consumers.webhooks.key_files import KeyFiles
from consumers.webhooks.signature import Keys, WebhookVerifier
from core.merchants import SINGLE_MERCHANT_NAME, Merchant, Merchants
from core.settings import WebhookSettings

__all__ = ["Receiving", "WebhookKeys", "scoped_key"]


def scoped_key(scope: str | None, key: str) -> str:
    """The dedupe key of a delivery in ``scope`` (a merchant's name; None: the single merchant's)."""
    return key if scope is None else f"{scope}/{key}"


@dataclass(frozen=True, slots=True)
class Receiving:
    """How one path's deliveries are received: their verifier, dedupe scope, merchant name and mid."""

    verifier: WebhookVerifier
    scope: str | None
    merchant: str | None
    mid: str | None = None  # the merchant's, named on its statuses (the plain path: the one merchant's)


class WebhookKeys:
    """The verifier of each merchant with a subscriber key, and of the plain path."""

    def __init__(self, plain: Receiving | None, named: dict[str, Receiving]) -> None:
        self.plain = plain
        self._named = named

    @classmethod
    def build(
        cls,
        settings: WebhookSettings,
        merchants: Merchants | None,
        *,
        verifier: WebhookVerifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> WebhookKeys:
        """``verifier``: the one of ``FLEXBRIDGE_WEBHOOK__*`` if already built. Raises ValueError for
        a key that is not the portal's (the merchants' keys are checked when they are loaded)."""
        skew = settings.max_skew_seconds
        if verifier is None and settings.subscriber_key is not None:
            verifier = WebhookVerifier.from_settings(settings, clock=clock)
        only = merchants.only if merchants is not None else None
        mid = only.mid if only is not None else None
        several = merchants is not None and len(merchants) > 1
        plain = Receiving(verifier, None, None, mid) if verifier is not None and not several else None
        named: dict[str, Receiving] = {}
        for merchant in merchants or ():
            if merchant.subscriber_key is None:
                continue
            scope = _scope(merchant, merchants)
            if plain is not None and scope is None:  # the single merchant: the same keys, one nonce cache
                named[merchant.name] = Receiving(plain.verifier, None, merchant.name, merchant.mid)
                continue
            previous, again = merchant.previous_subscriber_key, _key_files(merchant, named)
            verifier = WebhookVerifier(
                merchant.subscriber_key, previous, max_skew_seconds=skew, clock=clock, keys_again=again
            )
            named[merchant.name] = Receiving(verifier, scope, merchant.name, merchant.mid)
        if plain is None and only is not None:
            plain = named.get(only.name)
        return cls(plain, named)

    def __bool__(self) -> bool:
        return self.plain is not None or bool(self._named)

    def of(self, name: str | None) -> Receiving | None:
        """The receiving of merchant ``name``'s path (None: the plain path); None if there is none."""
        return self.plain if name is None else self._named.get(name)


def _key_files(merchant: Merchant, named: dict[str, Receiving]) -> Callable[[Keys], Keys | None] | None:
    """The merchant's key files read again on a failed signature (when its key comes from a file),
    a key of another merchant's receiver refused (``named``, filled by then)."""
    if merchant.subscriber_key_file is None:
        return None

    def taken(raw: bytes) -> str | None:
        others = (n for n, r in named.items() if n != merchant.name and r.verifier.holds(raw))
        return next(others, None)

    return KeyFiles(merchant, taken).keys_again


def _scope(merchant: Merchant, merchants: Merchants | None) -> str | None:
    single = merchant.name == SINGLE_MERCHANT_NAME and merchants is not None and len(merchants) == 1
    return None if single else merchant.name
