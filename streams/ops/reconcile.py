"""``flexbridge reconcile``: non-final orders by state and age; ``--execute`` asks Flex about them now.

It reads ``orders.status`` to its end and folds every status with the order machine, as the workers'
order table does. That needs only Kafka, sees every partition at once (a worker holds only its own),
and works while no worker runs. An order's age is the time since its last status. ``--execute``
looks each listed order up at Flex (rate-limited, ``FLEXBRIDGE_RECONCILE__MAX_PER_SECOND``) and
publishes what changed with ``source: "reconcile"``; the workers fold it into the table.

Exit codes: 0 done; 1 a lookup at Flex failed (--execute); 2 the settings, Kafka or a Flex token unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from consumers.flex.client import FlexClient, FlexError
from consumers.order_keys import order_key, status_mid
from consumers.order_machine import apply_status
from consumers.reconcile import Candidate, age_bucket, candidates_of
from core.config import ConfigError, load_settings
from core.merchants import Merchant, load_merchants, mid_key
from core.settings import Settings
from schemas.order_state import OrderState
from schemas.status import OrderStatus
from streams.kafka.clients import make_producer, read_topic, started
from streams.ops.arguments import add_merchant_filter, age
from streams.ops.merchant_names import merchant_mids, merchant_name, merchant_names
from streams.runtime.status import StatusPublisher

if TYPE_CHECKING:
    from streams.runtime.reconcile import Lookup

__all__ = ["add_reconcile_parser", "fold_statuses", "of_merchants", "read_orders", "report"]


def fold_statuses(records: list[bytes]) -> dict[str, OrderState]:
    """Order states from ``orders.status`` values in topic order, by order key (``mid/orderId``:
    two merchants' orders of one orderId are two orders; a status that names no merchant goes to
    the one order of its orderId, if there is one). The age of each is that of its last status
    (``occurredAt``). Values that are not OrderStatuses are skipped."""
    orders: dict[str, OrderState] = {}
    keys: dict[str, set[str]] = {}  # orderId → the keys of its orders
    for raw in records:
        try:
            status = OrderStatus.model_validate_json(raw)
        except ValidationError:
            continue
        key = order_key(status.order_id, status_mid(status), by_merchant=True)
        known = keys.setdefault(status.order_id, set())
        if key == status.order_id and key not in known and len(known) == 1:
            key = next(iter(known))
        state, verdict = apply_status(orders.get(key), status)
        if verdict != "duplicate":
            orders[key] = state.model_copy(update={"updated_at": status.occurred_at})
            known.add(key)
    return orders


async def read_orders(settings: Settings) -> dict[str, OrderState]:
    """Every order as ``orders.status`` tells it now (all partitions, from the beginning to the end)."""
    try:
        records = await read_topic(settings.kafka, settings.topics.status, must_exist=True)
    except LookupError as exc:
        why = "no worker has published a status yet, or FLEXBRIDGE_TOPICS__STATUS names another"
        raise ConfigError(f"{exc}: {why}") from None
    return fold_statuses([r.value for r in records if r.value])


def of_merchants(orders: dict[str, OrderState], mids: tuple[str, ...]) -> dict[str, OrderState]:
    """The orders of the merchants whose mids are ``mids`` (``--merchant``'s, as
    :func:`core.merchants.mid_key` matches them); every order when ``mids`` is empty."""
    if not mids:
        return orders
    return {key: o for key, o in orders.items() if o.mid is not None and mid_key(o.mid) in mids}


def _row(order: Candidate, now: float) -> dict[str, Any]:
    age = max(now - order.last_news, 0.0)
    return {
        "orderId": order.order_id,
        "mid": order.mid,
        "status": order.status,
        "orderSessionKey": order.order_session_key,
        "ageSeconds": round(age, 1),
        "age": age_bucket(age),
    }


def report(orders: dict[str, OrderState], now: float, older_than: float = 0.0) -> list[dict[str, Any]]:
    """Non-final orders (and FAILED no-batch-result ones), at least ``older_than`` seconds without
    news, the oldest first."""
    found = [c for c in candidates_of(orders.values()) if now - c.last_news >= older_than]
    return [_row(c, now) for c in sorted(found, key=lambda c: c.last_news)]


def _merchant(mid: str | None, names: dict[str, str]) -> str:
    """The merchant column: its name from the merchants file, else its mid, else ``-``."""
    return (merchant_name(mid, names) or mid) if mid else "-"


def _render(rows: list[dict[str, Any]], names: dict[str, str]) -> str:
    """The listing: counts by status and age, then a row per order."""
    counts = Counter((r["status"], r["age"]) for r in rows)
    lines = [f"{len(rows)} non-final orders"]
    lines += [f"  {status:<16} {age:<6} {n}" for (status, age), n in sorted(counts.items())]
    head = f"{'order':<28} {'merchant':<14} {'status':<16} {'age':<6} flex order"
    lines += [head] if rows else []
    lines += [
        f"{r['orderId']:<28} {_merchant(r['mid'], names):<14} {r['status']:<16} {r['age']:<6} "
        f"{r['orderSessionKey'] or '-'}"
        for r in rows
    ]
    return "\n".join(lines)


def _lookup_line(lookup: Lookup, names: dict[str, str]) -> str:
    """One lookup's result as it ends: order, merchant, result (and a change's new status)."""
    order = lookup.order
    change = f" {order.status} → {lookup.flex_status}" if lookup.published is not None else ""
    return f"  {order.order_id:<28} {_merchant(order.mid, names):<14} {lookup.result}{change}"


def _summary(lookups: list[Lookup]) -> str:
    results = Counter(lookup.result for lookup in lookups)
    return "looked up at Flex: " + (", ".join(f"{k} {v}" for k, v in sorted(results.items())) or "none")


def _say(text: str) -> None:
    print(text, flush=True)  # at once: a lookup of each order takes a while (the rate limit, Flex)


async def _execute(
    settings: Settings, orders: dict[str, OrderState], older_than: float, *, printing: bool = False
) -> list[Lookup]:
    """Look the orders up at Flex now; ``printing``: say each token fetched and each lookup's
    result as it comes (the text output), so that progress and failures show at once."""
    # every listed order, now: no wait for news, no expiry horizon
    now_all = {"after_seconds": max(older_than, 1e-9), "grace_seconds": math.inf}
    config = settings.reconcile.model_copy(update=now_all)
    from streams.runtime.reconcile import Reconciler, lookups_by_merchant  # the worker's module: Faust

    reconciler = Reconciler(config, settings.pipeline.mit_expiry_days)
    merchants = load_merchants(settings)  # each order is looked up as its merchant
    producer = await started(make_producer(settings.kafka))
    try:
        async with FlexClient(settings.flex) as flex:
            publisher = StatusPublisher(producer, settings.topics.status)
            candidates = candidates_of(orders.values())
            served = {m for c in candidates if (m := merchants.for_event(c.mid)) is not None}
            await _tokens(flex, served, _say if printing else None)
            names = merchant_names() if printing else {}
            on_lookup = (lambda x: _say(_lookup_line(x, names))) if printing else None
            lookups = lookups_by_merchant(flex, merchants)
            return await reconciler.run_pass(candidates, lookups, publisher, on_lookup)
    finally:
        await producer.stop()


async def _tokens(flex: FlexClient, merchants: set[Merchant], say: Callable[[str], None] | None) -> None:
    """A Flex token for each merchant first: Flex out of reach, or credentials refused, is one
    failure up front (each order would wait out the Flex deadline in turn, one after another)."""
    for merchant in sorted(merchants, key=lambda m: m.name):
        if say is not None:
            say(f"getting a Flex token for merchant {merchant.name} …")
        try:
            await flex.for_merchant(merchant).ensure_token()
        except FlexError as exc:
            raise ConfigError(
                f"no Flex token for merchant {merchant.name!r} ({exc}); nothing was looked up: check "
                "FLEXBRIDGE_FLEX__BASE_URL and the merchant's app key and secret (flexbridge check); "
                "--merchant NAME looks up one merchant's orders alone"
            ) from None


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        mids = merchant_mids(args.merchant)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.execute:
        load_merchants(settings)  # the merchants file, or FLEXBRIDGE_FLEX__* credentials: before Kafka
    orders = of_merchants(await read_orders(settings), mids)  # a KafkaError is streams/cli.py's to report
    rows = report(orders, time.time(), args.older_than)
    if args.json:
        lookups = await _execute(settings, orders, args.older_than) if args.execute else None
        _print_json(rows, lookups)
    else:
        lookups = await _print_text(settings, orders, rows, args)
    return 1 if lookups and any(x.result == "failed" for x in lookups) else 0


async def _print_text(
    settings: Settings, orders: dict[str, OrderState], rows: list[dict[str, Any]], args: argparse.Namespace
) -> list[Lookup] | None:
    """The listing, then with ``--execute`` each lookup's result as it comes and a summary."""
    _say(_render(rows, merchant_names()))
    if not args.execute:
        return None
    _say(f"looking up at Flex (at most {settings.reconcile.max_per_second:g} a second):")
    lookups = await _execute(settings, orders, args.older_than, printing=True)
    _say(_summary(lookups))
    return lookups


def _print_json(rows: list[dict[str, Any]], lookups: list[Lookup] | None) -> None:
    body: dict[str, Any] = {"orders": rows}
    if lookups is not None:
        body["lookups"] = [_lookup_json(x) for x in lookups]
    print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())


def _lookup_json(lookup: Lookup) -> dict[str, Any]:
    published = lookup.published
    return {
        "orderId": lookup.order.order_id,
        "mid": lookup.order.mid,
        "status": lookup.order.status,
        "result": lookup.result,
        "flexStatus": lookup.flex_status,
        "published": None if published is None else published.model_dump(mode="json", by_alias=True),
    }


def add_reconcile_parser(sub: Any) -> None:
    parser = sub.add_parser("reconcile", help="list non-final orders by state and age; --execute asks Flex")
    parser.add_argument("--execute", action="store_true", help="look them up at Flex now and publish changes")
    parser.add_argument(
        "--older-than",
        type=age,
        default=0.0,
        metavar="AGE",
        help="only orders without news for this long: seconds, or 90s, 15m, 2h, 1d",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_merchant_filter(parser, "orders")
    parser.set_defaults(run=lambda args: asyncio.run(_run(args)))
