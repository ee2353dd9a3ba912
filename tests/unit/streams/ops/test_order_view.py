"""`flexbridge order`'s human view: amounts, merchant names, several merchants' orders."""

from __future__ import annotations

import argparse

import pytest

from streams.ops.order import add_order_parser, render_order, render_orders


def _view(**fields: object) -> dict[str, object]:
    return {"orderId": "ORD-1", "status": "APPROVED", "history": [], **fields}


def test_amounts_in_the_currency_and_a_dash_when_no_event_gave_one() -> None:
    text = render_order(_view(authorisedAmount=12345, capturedAmount=0, currency="EUR", mid="M1"))
    assert "authorised    123.45 EUR" in text
    assert "captured      0.00 EUR" in text
    assert "refunded      -" in text  # an order known from a webhook only has no amounts
    assert "merchant      mid M1" in text


def test_the_merchants_file_names_the_mid() -> None:
    text = render_order(_view(mid="M1"), {"m1": "acme"})  # keyed as mid_key matches
    assert "merchant      acme (mid M1)" in text


def test_each_merchants_order_of_one_id() -> None:
    body = {"orderId": "ORD-1", "orders": [_view(mid="M1"), _view(mid="M2")]}
    text = render_orders(body, {"m2": "globex"})
    assert text.startswith("2 merchants have an order ORD-1")
    assert "mid M1" in text and "globex (mid M2)" in text


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flexbridge")
    add_order_parser(parser.add_subparsers())
    return parser.parse_args(["order", "ORD-1", *argv])


def test_a_url_without_http_or_https_is_refused_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        _parse("--url", "127.0.0.1:15298")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --url" in err and "'127.0.0.1:15298' has no http:// or https://" in err
    assert _parse("--url", "https://worker:6066").url == "https://worker:6066"
    assert _parse().url.startswith("http://127.0.0.1:")
