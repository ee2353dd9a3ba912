"""``flexbridge order ORDER_ID [--merchant NAME | --mid MID]``: an order's current state and history,
asked of a running worker. Two merchants may both have an order of that id: each one's is shown
(``--merchant`` or ``--mid``: one).

Exit codes: 0 shown; 1 unknown order; 2 the worker could not answer (unreachable, not ready, or
the order's entry is one it cannot read: its error on stderr, the entry as stored on stdout).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from streams.ops.arguments import positive
from streams.ops.merchant_names import merchant_mids, merchant_name, merchant_names

__all__ = ["add_order_parser", "render_order", "render_orders"]


def _default_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('FLEXBRIDGE_WEB__PORT', '6066')}"


def _auth() -> dict[str, str]:
    """The worker's admin token, when one is set (FLEXBRIDGE_WEB__ADMIN_TOKEN)."""
    token = os.environ.get("FLEXBRIDGE_WEB__ADMIN_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _money(cents: Any, currency: Any) -> str:
    if not isinstance(cents, int):
        return "-"  # no event of the order gave an amount (one known from a webhook only)
    return f"{cents // 100}.{cents % 100:02d} {currency or ''}".rstrip()


def _merchant(mid: Any, names: dict[str, str]) -> str:
    if not mid:
        return "-"
    name = merchant_name(str(mid), names)
    return f"{name} (mid {mid})" if name else f"mid {mid}"


def render_order(body: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """The human view: summary lines, then the history, oldest first. ``names``: :func:`merchant_names`."""
    cur = body.get("currency")
    lines = [
        f"order         {body.get('orderId')}",
        f"merchant      {_merchant(body.get('mid'), names or {})}",
        f"flex order    {body.get('orderSessionKey') or '-'}",
        f"status        {body.get('status') or '-'}" + ("   (FLAGGED)" if body.get("flagged") else ""),
        f"authorised    {_money(body.get('authorisedAmount'), cur)}",
        f"captured      {_money(body.get('capturedAmount'), cur)}",
        f"refunded      {_money(body.get('refundedAmount'), cur)}",
        f"refundable    {_money(body.get('refundableAmount'), cur)}",
        "history:",
    ]
    for entry in body.get("history") or []:
        note = f"  {entry['note']}" if entry.get("note") else ""
        lines.append(
            f"  {entry['at']}  {entry['status']:<15} {entry['source']:<8} {entry['verdict']:<9} "
            f"{entry['eventId']}{note}"
        )
    for flag in body.get("flags") or []:
        lines.append(f"flag: {flag}")
    return "\n".join(lines)


def render_orders(body: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """One order's view, or each merchant's order of the id (``{"orderId", "orders": […]}``)."""
    orders = body.get("orders")
    if not isinstance(orders, list):
        return render_order(body, names)
    head = f"{len(orders)} merchants have an order {body.get('orderId')}"
    return "\n\n".join([head, *(render_order(order, names) for order in orders)])


def _mid(args: argparse.Namespace) -> str | None:
    """The mid of ``--merchant NAME`` (from the merchants file) or ``--mid``; ValueError naming the
    merchants the file has."""
    if args.merchant is None:
        return str(args.mid) if args.mid else None
    (mid,) = merchant_mids([args.merchant])  # a name is one merchant's
    return mid


def _order(args: argparse.Namespace) -> int:
    url = f"{args.url.rstrip('/')}/orders/{quote(args.order_id, safe='')}"
    try:
        mid = _mid(args)
    except ValueError as exc:
        print(f"flexbridge: {exc}", file=sys.stderr)
        return 2
    params = {"mid": mid} if mid else None
    try:
        response = httpx.get(url, params=params, timeout=args.timeout, headers=_auth())
    except httpx.HTTPError as exc:
        print(
            f"flexbridge: cannot reach the worker at {args.url} ({type(exc).__name__}); "
            "is it running? (--url or FLEXBRIDGE_WEB__PORT)",
            file=sys.stderr,
        )
        return 2
    if response.status_code == 401:
        print("flexbridge: the worker refused the admin token (FLEXBRIDGE_WEB__ADMIN_TOKEN)", file=sys.stderr)
        return 2
    if response.status_code == 404 and not _unknown_order(response):
        print(
            f"flexbridge: {args.url} answered 404 for /orders/…: not a flexbridge worker? (--url or "
            "FLEXBRIDGE_WEB__PORT)",
            file=sys.stderr,
        )
        return 2
    if response.status_code == 404:
        mine = f" of merchant {args.merchant or 'mid ' + str(mid)}" if mid else ""
        print(
            f"flexbridge: unknown order {args.order_id}{mine}: not seen, or final and without news "
            "for longer than the order retention (FLEXBRIDGE_ORDERS__RETENTION_DAYS)",
            file=sys.stderr,
        )
        return 1
    stored = _unreadable(response)
    if stored is not None:  # an entry the worker cannot read: what is stored, for the operator to see
        error, value = stored
        print(f"flexbridge: {error}; stored as:", file=sys.stderr)
        print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())
        return 2
    if response.status_code != 200:
        print(
            f"flexbridge: the worker answered HTTP {response.status_code}: {response.text[:300]}",
            file=sys.stderr,
        )
        return 2
    body = response.json()
    if args.json:
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_orders(body, merchant_names()))
    return 0


def _unknown_order(response: httpx.Response) -> bool:
    """Whether a 404 is a worker's answer for an order it does not know (``{"error", "orderId"}``)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "orderId" in body and "error" in body


def _unreadable(response: httpx.Response) -> tuple[str, Any] | None:
    """A worker's 500 for an entry it cannot read (``{"error", "orderId", "stored"}``): the error
    and the stored JSON."""
    if response.status_code != 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "stored" not in body:
        return None
    return str(body.get("error")), body["stored"]


def _order_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an order id is not empty")
    return text


def _url(text: str) -> str:
    """A worker's web server: ``http://…`` or ``https://…`` (without, httpx names no host to reach)."""
    if not text.strip().lower().startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} has no http:// or https://, e.g. http://127.0.0.1:6066")
    return text.strip()


def add_order_parser(sub: Any) -> None:
    order = sub.add_parser("order", help="show an order's current state and history")
    order.add_argument("order_id", metavar="ORDER_ID", type=_order_id, help="the merchant order id")
    order.add_argument(
        "--url",
        type=_url,
        default=_default_url(),
        help="a worker's web server, http://HOST:PORT (default: FLEXBRIDGE_WEB__PORT)",
    )
    one = order.add_mutually_exclusive_group()
    one.add_argument(
        "--merchant",
        metavar="NAME",
        help="only this merchant's order, by its name in the merchants file (several merchants may "
        "use one orderId)",
    )
    one.add_argument("--mid", help="only the order of the merchant with this mid")
    order.add_argument("--json", action="store_true", help="print the raw JSON")
    order.add_argument("--timeout", type=positive, default=10.0, help="seconds to wait for the worker")
    order.set_defaults(run=_order)
