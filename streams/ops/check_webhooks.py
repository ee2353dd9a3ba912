"""``flexbridge check``: the webhook receiver's subscriber keys, decoded as the receiver decodes them.

Without a merchants file: ``FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY`` (and the previous key); no key
means the receiver is off. With one: a result per merchant (``webhook key (acme)``), since each
merchant's deliveries come to ``/webhooks/flex/{name}`` and are verified with that merchant's key;
the receiver is on when any merchant (or ``FLEXBRIDGE_WEBHOOK__*``) has a key.
"""

from __future__ import annotations

from consumers.webhooks.keys import WebhookKeys
from consumers.webhooks.signature import WebhookVerifier
from core.config import ConfigError
from core.merchants import Merchant, Merchants
from core.merchants_file import ENV_NAME
from core.settings import Settings
from streams.ops.check import CheckResult, named_settings

__all__ = ["webhook_checks"]

_FIX = "paste the subscriber key from the Flex portal: base64 of 64 bytes"


def webhook_checks(settings: Settings, merchants: Merchants | None) -> list[CheckResult]:
    """One result without a merchants file (``merchants`` None); with one, one per merchant (and
    one for the global key when it is set but fails to decode)."""
    single = _single_check(settings)
    if merchants is None:
        return [single]
    results = [] if single.ok else [single]
    try:
        keys = WebhookKeys.build(settings.webhook, merchants)
    except ValueError:  # a key that passed loading but not the verifier: named per merchant below
        keys = None
    results += [_merchant_check(m, merchants, keys) for m in merchants]
    return results


def _single_check(settings: Settings) -> CheckResult:
    from streams.runtime.webhooks import build_verifier

    try:
        verifier = build_verifier(settings.webhook)
    except ConfigError as exc:
        return CheckResult("webhook key", False, str(exc), named_settings(str(exc)), _FIX)
    if verifier is None:
        return CheckResult("webhook key", True, "not set: the webhook receiver is off")
    rotating = settings.webhook.previous_subscriber_key is not None
    return CheckResult("webhook key", True, "current and previous keys decode" if rotating else "key decodes")


def _merchant_check(merchant: Merchant, merchants: Merchants, keys: WebhookKeys | None) -> CheckResult:
    name, path = f"webhook key ({merchant.name})", f"/webhooks/flex/{merchant.name}"
    if merchant.subscriber_key is None:
        return CheckResult(name, True, f"no subscriber_key: {path} answers 404 (no receiver for it)")
    try:
        WebhookVerifier(merchant.subscriber_key, merchant.previous_subscriber_key)
    except ValueError as exc:
        setting = f'{ENV_NAME}: merchant "{merchant.name}" subscriber_key'
        return CheckResult(name, False, str(exc), setting, _FIX)
    decoded = "current and previous keys decode" if merchant.previous_subscriber_key else "key decodes"
    paths = path
    if keys is not None and len(merchants) == 1 and keys.of(None) is not None:
        paths += " and /webhooks/flex"
    return CheckResult(name, True, f"{decoded}: the receiver is on at {paths}")
