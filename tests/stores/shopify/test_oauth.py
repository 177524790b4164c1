"""OAuth and webhook-signature helpers (notes/store-apis.md §1.5, §1.6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tendero.errors import StoreAuthError
from tendero.stores.shopify import (
    authorize_url,
    exchange_code,
    normalize_shop_domain,
    refresh_credentials,
    timestamp_fresh,
    verify_query_hmac,
    verify_webhook_hmac,
    webhook_header,
)
from tests.fakes.shopify_server import FakeShopify

BASE = {
    "code": "0907a61c0c8d55e99db179b68161bc00",
    "shop": "some-shop.myshopify.com",
    "timestamp": "1337178173",
}


def test_query_hmac_vectors_from_the_notes() -> None:
    good = {**BASE, "hmac": "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"}
    assert verify_query_hmac(good, "hush") is True
    with_state = {
        **BASE,
        "state": "0.6784241404160823",
        "hmac": "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
    }
    assert verify_query_hmac(with_state, "hush") is True
    assert verify_query_hmac({**good, "shop": "evil.myshopify.com"}, "hush") is False
    assert verify_query_hmac(good, "other-secret") is False
    assert verify_query_hmac(BASE, "hush") is False  # no hmac at all


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tendero-test.myshopify.com", "tendero-test.myshopify.com"),
        ("Tendero-Test.MyShopify.com", "tendero-test.myshopify.com"),
        ("  shop1.myshopify.com ", "shop1.myshopify.com"),
    ],
)
def test_shop_domain_accepted(raw: str, expected: str) -> None:
    assert normalize_shop_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "evil.com",
        "x.myshopify.com.evil.com",
        "https://x.myshopify.com",
        "x.myshopify.com/admin",
        "x.myshopify.com:8443",
        "user@x.myshopify.com",
        "-x.myshopify.com",
        "x_y.myshopify.com",
        "a.b.myshopify.com",
        "myshopify.com",
        "x.shopify.com",
        "127.0.0.1",
        "",
    ],
)
def test_shop_domain_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_shop_domain(raw)


def test_timestamp_fresh() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    ts = int(now.timestamp())
    assert timestamp_fresh(str(ts - 3600), now) is True
    assert timestamp_fresh(ts - 25 * 3600, now) is False
    assert timestamp_fresh(ts + 3600, now) is False
    assert timestamp_fresh("not-a-number", now) is False
    assert timestamp_fresh(ts - 120, now, max_age=timedelta(minutes=1)) is False


def test_authorize_url() -> None:
    url = authorize_url(
        "Shop1.myshopify.com",
        "cid",
        ["read_products", "write_orders"],
        "https://t.example/cb",
        "n1",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "shop1.myshopify.com",
        "/admin/oauth/authorize",
    )
    assert parse_qs(parts.query) == {
        "client_id": ["cid"],
        "scope": ["read_products,write_orders"],
        "redirect_uri": ["https://t.example/cb"],
        "state": ["n1"],
    }
    with pytest.raises(ValueError):
        authorize_url("evil.com", "cid", [], "https://t.example/cb", "n1")


async def test_exchange_code_and_refresh_against_fake() -> None:
    async with FakeShopify() as fake, httpx.AsyncClient() as http:
        common = {
            "shop": fake.shop_domain,
            "base_url": fake.url,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
        }
        code = fake.authorization_code("write_products,write_orders")
        creds = await exchange_code(
            http, **common, code=code, requested_scopes=["read_products", "write_orders"]
        )
        assert creds.expires_at is not None and creds.refresh_token is not None
        assert creds.scope == "write_products,write_orders"
        # A code is single-use.
        with pytest.raises(StoreAuthError):
            await exchange_code(http, **common, code=code, requested_scopes=[])
        # Fewer scopes granted than requested.
        short = fake.authorization_code("read_products")
        with pytest.raises(StoreAuthError) as err:
            await exchange_code(
                http, **common, code=short, requested_scopes=["read_products", "write_orders"]
            )
        assert err.value.provider_code == "missing_scopes"

        old = creds.refresh_token.get_secret_value()
        new = await refresh_credentials(http, **common, refresh_token=old)
        assert new.refresh_token is not None and new.refresh_token.get_secret_value() != old
        assert new.access_token.get_secret_value() != creds.access_token.get_secret_value()
        # The rotated refresh token is dead: reusing it is refused (and the fake flags it).
        with pytest.raises(StoreAuthError) as err:
            await refresh_credentials(http, **common, refresh_token=old)
        assert err.value.provider_code == "invalid_grant"
        assert fake.violations == ["rotated refresh token used again"]


def _sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_webhook_hmac_both_spellings_and_rotation() -> None:
    body = b'{"id":450789469,"name":"#1001"}'
    old, new = "old-secret", "new-secret"
    for headers in (
        {"X-Shopify-Hmac-Sha256": _sign(body, old), "X-Shopify-Topic": "orders/create"},
        {"shopify-hmac-sha256": _sign(body, old), "shopify-topic": "orders/create"},
    ):
        signature = webhook_header(headers, "Hmac-Sha256")
        assert webhook_header(headers, "topic") == "orders/create"
        assert verify_webhook_hmac(body, signature, [new, old]) is True
        assert verify_webhook_hmac(body, signature, [new]) is False
        assert verify_webhook_hmac(body + b" ", signature, [new, old]) is False
    assert verify_webhook_hmac(body, _sign(body, new), [new, old]) is True
    assert verify_webhook_hmac(body, None, [old]) is False
    assert verify_webhook_hmac(body, "", [old]) is False
    assert webhook_header({"Content-Type": "application/json"}, "Hmac-Sha256") is None
