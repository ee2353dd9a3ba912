"""The Flex webhook signature scheme (flex-api.md §3.4): signing, verification and its refusals.

The vector was computed once with OpenSSL 3.0, outside the code under test (KEYHEX: the 64 bytes
0x00..0x3f, whose base64 is KEY_B64; the KEY2_* values likewise with 0x40..0x7f):
``printf '%s' "$BODY" | openssl dgst -sha512 [-mac HMAC -macopt hexkey:$KEYHEX] -binary | base64 -w0``
gives CONTENT [BODY_SIG]; ``printf 'POST\\n%s;%s;%s;%s' "$NONCE" "$DATE" "$HOST" "$CONTENT" | openssl
dgst -sha512 -mac HMAC -macopt hexkey:$KEYHEX -binary | base64 -w0`` gives AUTH_SIG.
``test_vector_is_what_the_stdlib_computes`` re-derives it with hashlib/hmac, again without the module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from pydantic import SecretStr

import consumers.webhooks.signature as ws
from consumers.webhooks.signature import SIGNED_HEADERS, NonceCache, WebhookRejected, WebhookVerifier, sign
from core.errors import FlexbridgeError
from core.settings import Settings, WebhookSettings

KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
KEY2_B64 = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+fw=="
BODY = (
    b'{"Event":"order.completed","TimeStamp":"2023-03-20T17:16:40.898703Z","EventData":null,'
    b'"ExternalOrderId":"a9735210-1349-49bf-bfde-b737dd07872a",'
    b'"OrderId":"ac9674ed-cbfe-49aa-bc8b-eb1d2b74c429","ConfirmationId":"22ACD1D9",'
    b'"IsTestMode":true,"IsResent":false}'
)
NONCE = "9f86d081884c7d659a2feaa0c55ad015"
DATE = "Mon, 20 Mar 2023 17:16:40 GMT"
DATE_EPOCH = 1679332600.0  # date -u -d "$DATE" +%s
HOST = "merchant.example.com:8443"
CONTENT = "pLs0Op5VWqQM3ZIumqC2NP6MDqcnwFN1znp/oCuw9LcYd8PtvLC8ProyPg8ZDadsRc36NskT3QGKn/PkNqwWfg=="
BODY_SIG = "pumL1Zd5LLHL5dOBXAy/0+oNKKhai8FhVXjgE+wHddXEfqRO08cAO0WTB2NUdk53iyUcrSiROEe+523kXFxOIw=="
AUTH_SIG = "3y6KmgcFTMs6s2Z/x7mM1pom7YNDDp2gRVA2uiOe7WW87NA7nVdV4lrteLZbXBTBggEnHy28bvPw6m09Xmgu6A=="
KEY2_BODY_SIG = "n/A0/ji14l9D73NlQ5rxI+uKu7sS5Y9VNzqJUuP28U2sTt07z3T2deWxAUoADWqUr8C2GGd8M/C6a++sZKIbwQ=="
KEY2_AUTH_SIG = "DoQtTFJSGIysmcgZZ2cIUJ27OTC0u4ou30mDe+HFaU1a1wbXCNSQm7YTKJEXqi5FwrdGBXaROCcJTYSWWNWOsQ=="
PREFIX = "HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature="
SECRETS = (KEY_B64, KEY2_B64, BODY_SIG, AUTH_SIG, KEY2_BODY_SIG, KEY2_AUTH_SIG)
ZEROS = base64.b64encode(bytes(64)).decode()
VECTOR = {
    "x-fc-authorization": PREFIX + AUTH_SIG,
    "x-fc-content-sha512": CONTENT,
    "x-fc-date": DATE,
    "x-fc-nonce": NONCE,
    "x-fc-signature": BODY_SIG,
}


def clock_at(now: float = DATE_EPOCH) -> Callable[[], float]:
    return lambda: now


def verifier(key: str = KEY_B64, previous: str | None = None, **kw: Any) -> WebhookVerifier:
    return WebhookVerifier(key, previous, **({"clock": clock_at()} | kw))


def rejected(v: WebhookVerifier, h: Any, body: bytes = BODY, host: str = HOST, method: str = "POST") -> str:
    with pytest.raises(WebhookRejected) as info:
        v.verify(method, host, h, body)
    exc = info.value
    assert isinstance(exc, FlexbridgeError) and not exc.retriable and exc.status_code == 401
    assert not any(secret in str(exc) for secret in SECRETS), str(exc)
    return exc.reason


def test_vector_is_what_the_stdlib_computes() -> None:
    key, key2 = bytes(range(64)), bytes(range(64, 128))
    message = f"POST\n{NONCE};{DATE};{HOST};{CONTENT}".encode()
    assert (base64.b64encode(key).decode(), base64.b64encode(key2).decode()) == (KEY_B64, KEY2_B64)
    assert base64.b64encode(hashlib.sha512(BODY).digest()).decode() == CONTENT
    assert base64.b64encode(hmac.new(key, BODY, hashlib.sha512).digest()).decode() == BODY_SIG
    assert base64.b64encode(hmac.new(key, message, hashlib.sha512).digest()).decode() == AUTH_SIG
    assert base64.b64encode(hmac.new(key2, message, hashlib.sha512).digest()).decode() == KEY2_AUTH_SIG
    assert base64.b64encode(hmac.new(key2, BODY, hashlib.sha512).digest()).decode() == KEY2_BODY_SIG


def test_sign_produces_exactly_the_five_headers_of_the_vector() -> None:
    assert sign(BODY, key_b64=KEY_B64, host=HOST, date=DATE, nonce=NONCE) == VECTOR
    signed2 = sign(BODY, key_b64=KEY2_B64, method="post", host=HOST, date=DATE, nonce=NONCE)
    assert signed2 == VECTOR | {"x-fc-authorization": PREFIX + KEY2_AUTH_SIG, "x-fc-signature": KEY2_BODY_SIG}
    assert tuple(VECTOR) == SIGNED_HEADERS


def test_verify_accepts_the_vector_with_any_header_casing() -> None:
    date = datetime(2023, 3, 20, 17, 16, 40, tzinfo=UTC)
    assert verifier().verify("POST", HOST, VECTOR, BODY) == ws.Verified(key="current", nonce=NONCE, date=date)
    assert verifier().verify("post", HOST, {k.upper(): v for k, v in VECTOR.items()}, BODY).nonce == NONCE
    multi = CIMultiDict({name.title(): value for name, value in VECTOR.items()})
    multi.add("X-Fc-Nonce", NONCE)  # a repeat with the same value is harmless
    assert verifier().verify("POST", HOST, multi, BODY).key == "current"
    multi.add("X-FC-Signature", KEY2_BODY_SIG)  # a repeat that disagrees is not
    assert rejected(verifier(), multi) == "bad-header"


def test_round_trip_with_a_fresh_nonce_and_the_real_clock() -> None:
    body, v, host = b'{"Event":"order.refunded"}', WebhookVerifier(KEY_B64), "127.0.0.1:8080"
    for _ in range(3):
        headers = sign(body, key_b64=KEY_B64, host=host, date=ws.http_date(), nonce=ws.new_nonce())
        assert v.verify("POST", host, headers, body).key == "current"
    assert len(v.nonces) == 3


def test_http_date_and_new_nonce() -> None:
    assert ws.http_date(datetime(2023, 3, 20, 17, 16, 40, 898703, tzinfo=UTC)) == DATE
    assert ws.http_date(datetime(2023, 3, 20, 18, 16, 40, tzinfo=timezone(timedelta(hours=1)))) == DATE
    assert ws.http_date().endswith(" GMT")
    with pytest.raises(ValueError):
        ws.http_date(datetime(2023, 3, 20, 17, 16, 40))  # naive on purpose: refused  # noqa: DTZ001
    nonces = {ws.new_nonce() for _ in range(100)}
    assert len(nonces) == 100 and all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)


_TAMPERED = BODY.replace(b"order.completed", b"order.refunded")
_TAMPERED_HASH = base64.b64encode(hashlib.sha512(_TAMPERED).digest()).decode()
_OTHER_SCHEME = "HMAC-SHA256 SignedHeaders=host&Signature=" + AUTH_SIG
_REFUSALS = [  # (header overrides, body, host, method, clock offset, reason)
    ({}, BODY.replace(b"true", b"false"), HOST, "POST", 0, "content-hash"),
    ({"x-fc-content-sha512": _TAMPERED_HASH}, _TAMPERED, HOST, "POST", 0, "signature"),
    ({"x-fc-date": "Mon, 20 Mar 2023 17:16:41 GMT"}, BODY, HOST, "POST", 0, "signature"),
    ({"x-fc-nonce": "0" * 32}, BODY, HOST, "POST", 0, "signature"),
    ({"x-fc-signature": ZEROS}, BODY, HOST, "POST", 0, "signature"),
    ({"x-fc-authorization": PREFIX + ZEROS}, BODY, HOST, "POST", 0, "signature"),
    ({"x-fc-authorization": PREFIX + KEY2_AUTH_SIG}, BODY, HOST, "POST", 0, "signature"),
    ({}, BODY, "merchant.example.com", "POST", 0, "signature"),
    ({}, BODY, "evil.example:8443", "POST", 0, "signature"),
    ({}, BODY, HOST, "PUT", 0, "signature"),
    ({}, BODY, HOST, "POST", 301, "stale-date"),  # old
    ({}, BODY, HOST, "POST", -301, "stale-date"),  # from the future
    ({}, BODY, HOST, "POST", 86400 * 365, "stale-date"),
    ({}, BODY, "", "POST", 0, "missing-header"),
    ({"x-fc-signature": "not base64!"}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-signature": BODY_SIG[:-4]}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-signature": base64.b64encode(bytes(32)).decode()}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-content-sha512": "%%%%"}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-authorization": PREFIX + "***"}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-authorization": AUTH_SIG}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-authorization": _OTHER_SCHEME}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-nonce": NONCE[:-1]}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-nonce": "z" * 32}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-date": "yesterday"}, BODY, HOST, "POST", 0, "bad-header"),
    ({"x-fc-date": "Mon, 20 Mar 99999 17:16:40 GMT"}, BODY, HOST, "POST", 0, "bad-header"),
]


@pytest.mark.parametrize(("hdr", "body", "host", "verb", "offset", "reason"), _REFUSALS)
def test_refusals(hdr: dict[str, str], body: bytes, host: str, verb: str, offset: int, reason: str) -> None:
    v = verifier(clock=clock_at(DATE_EPOCH + offset))
    assert rejected(v, VECTOR | hdr, body, host, verb) == reason


@pytest.mark.parametrize("offset", [300.0, -300.0, 0.0])
def test_date_at_the_edge_of_the_skew_passes(offset: float) -> None:
    assert verifier(clock=clock_at(DATE_EPOCH + offset)).verify("POST", HOST, VECTOR, BODY)


@pytest.mark.parametrize("header", SIGNED_HEADERS)
def test_each_missing_header_is_named(header: str) -> None:
    with pytest.raises(WebhookRejected, match=header) as info:
        verifier().verify("POST", HOST, {k: v for k, v in VECTOR.items() if k != header}, BODY)
    assert info.value.reason == "missing-header"
    assert rejected(verifier(), VECTOR | {header: "  "}) == "missing-header"
    assert rejected(verifier(), {}) == "missing-header"


def test_skew_zero_disables_the_date_check_but_not_the_replay_check_whatever_the_case() -> None:
    v = verifier(max_skew_seconds=0, clock=clock_at(DATE_EPOCH + 10 * 365 * 86400))
    assert v.verify("POST", HOST, VECTOR, BODY).key == "current"
    assert rejected(v, VECTOR) == "replayed-nonce"
    upper = sign(BODY, key_b64=KEY_B64, host=HOST, date=DATE, nonce=NONCE.upper())
    assert rejected(v, upper) == "replayed-nonce"


def test_a_refused_delivery_does_not_burn_its_nonce() -> None:
    now = [DATE_EPOCH + 1000]
    v = verifier(clock=lambda: now[0])
    assert rejected(v, VECTOR) == "stale-date"
    assert rejected(v, VECTOR, body=BODY + b" ") == "content-hash"
    assert rejected(v, VECTOR | {"x-fc-signature": KEY2_BODY_SIG}) == "signature"
    now[0] = DATE_EPOCH
    assert v.verify("POST", HOST, VECTOR, BODY).nonce == NONCE


def test_rotation_accepts_the_previous_key_and_reports_it_but_no_other() -> None:
    v = verifier(KEY2_B64, KEY_B64)
    assert v.verify("POST", HOST, VECTOR, BODY).key == "previous"
    headers = sign(BODY, key_b64=KEY2_B64, host=HOST, date=DATE, nonce="a" * 32)
    assert v.verify("POST", HOST, headers, BODY).key == "current"
    assert verifier(KEY_B64, KEY_B64).verify("POST", HOST, VECTOR, BODY).key == "current"
    v = verifier(KEY_B64, KEY2_B64)  # the body signature must come from the key of the authorization
    assert rejected(v, VECTOR | {"x-fc-signature": KEY2_BODY_SIG}) == "signature"
    assert rejected(v, VECTOR | {"x-fc-authorization": PREFIX + KEY2_AUTH_SIG}) == "signature"
    third = base64.b64encode(bytes(range(128, 192))).decode()
    assert rejected(verifier(third, KEY2_B64), VECTOR) == "signature"
    assert rejected(verifier(KEY2_B64, "  "), VECTOR) == "signature"  # a blank previous key is no key


@pytest.mark.parametrize("bad", ["not base64 at all!", "QUJD", "", "AAEC" * 3 + "=", KEY_B64[:-2]])
def test_a_bad_key_is_a_clear_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY") as info:
        WebhookVerifier(bad)
    assert not bad or bad not in str(info.value)
    with pytest.raises(ValueError, match="FLEXBRIDGE_WEBHOOK__PREVIOUS_SUBSCRIBER_KEY"):
        WebhookVerifier(KEY_B64, bad or "%%%")
    with pytest.raises(ValueError, match="subscriber key"):
        sign(BODY, key_b64=bad, host=HOST, date=DATE, nonce=NONCE)
    with pytest.raises(ValueError, match="MAX_SKEW_SECONDS"):
        WebhookVerifier(KEY_B64, max_skew_seconds=-1)


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY", KEY2_B64)
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOK__PREVIOUS_SUBSCRIBER_KEY", KEY_B64)
    monkeypatch.setenv("FLEXBRIDGE_WEBHOOK__MAX_SKEW_SECONDS", "0")
    v = WebhookVerifier.from_settings(Settings().webhook, clock=clock_at(0.0))
    assert v.verify("POST", HOST, VECTOR, BODY).key == "previous"
    with pytest.raises(ValueError, match="FLEXBRIDGE_WEBHOOK__SUBSCRIBER_KEY"):
        WebhookVerifier.from_settings(WebhookSettings())
    only = WebhookVerifier.from_settings(WebhookSettings(subscriber_key=SecretStr(KEY_B64)), clock=clock_at())
    assert only.verify("POST", HOST, VECTOR, BODY).key == "current"


def test_every_comparison_goes_through_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    verifier(KEY2_B64, KEY_B64).verify("POST", HOST, VECTOR, BODY)
    assert calls == [(64, 64)] * 4  # content hash, authorization under both keys (no early exit), body
    calls.clear()
    rejected(verifier(), VECTOR, body=b"{}")
    assert calls == [(64, 64)]


def test_nonce_cache_stays_bounded_under_100k_distinct_nonces() -> None:
    v, body = verifier(max_skew_seconds=0, nonce_cache_size=1000), b"{}"
    for i in range(100_000):
        v.verify("POST", HOST, sign(body, key_b64=KEY_B64, host=HOST, date=DATE, nonce=f"{i:032x}"), body)
        assert len(v.nonces) <= 1000
    assert len(v.nonces) == 1000
    recent = sign(body, key_b64=KEY_B64, host=HOST, date=DATE, nonce=f"{99_999:032x}")
    assert rejected(v, recent, body=body) == "replayed-nonce"


def test_nonces_expire_after_twice_the_skew() -> None:
    cache = NonceCache(ttl_seconds=600.0, max_entries=100_000)
    for i in range(10_000):
        assert cache.add(f"{i:032x}", float(i) / 100)
    assert not cache.add(f"{0:032x}", 100.0) and len(cache) == 10_000
    assert cache.add("f" * 32, 700.0) and len(cache) == 1  # everything older has expired meanwhile
    v = verifier(max_skew_seconds=300)
    v.verify("POST", HOST, VECTOR, BODY)
    assert v.nonces.add("b" * 32, DATE_EPOCH + 599) and len(v.nonces) == 2
    assert v.nonces.add("c" * 32, DATE_EPOCH + 601) and len(v.nonces) == 2  # the first aged out
    with pytest.raises(ValueError):
        NonceCache(ttl_seconds=None, max_entries=0)


_NAMES = st.sampled_from([*SIGNED_HEADERS, "X-FC-DATE", "X-Fc-Signature", "host", "x-other"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_NAMES, st.text()), st.binary(max_size=64), st.text(), st.text(max_size=8))
def test_arbitrary_input_is_rejected(headers: dict[str, str], body: bytes, host: str, method: str) -> None:
    with pytest.raises(WebhookRejected):
        verifier().verify(method, host, headers, body)


def _near_miss(header: str) -> st.SearchStrategy[str]:
    digest = st.binary(min_size=64, max_size=64).map(lambda b: base64.b64encode(b).decode())
    prefixed = digest.map(lambda d: PREFIX + d) if header == "x-fc-authorization" else digest
    return st.one_of(st.just(VECTOR[header]), st.text(), prefixed)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({h: _near_miss(h) for h in SIGNED_HEADERS}), st.sampled_from([BODY, b"", b"{}"]))
def test_near_miss_headers_are_only_ever_rejected(headers: dict[str, str], body: bytes) -> None:
    try:
        got = verifier().verify("POST", HOST, headers, body)
    except WebhookRejected as exc:
        assert exc.reason in {"missing-header", "bad-header", "content-hash", "signature"}
        return
    assert headers == VECTOR and body == BODY and got.key == "current"
