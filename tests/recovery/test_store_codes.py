"""Discount codes of the drip are created in the connected store (fake Shopify, WooCommerce)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.recovery import RecoveryTrigger
from tendero.db.models import Coupon
from tendero.domain.recovery import RecoveryOutcome
from tendero.stores.integrations import connect
from tests.fakes.shopify_server import FakeShopify
from tests.fakes.smtp import SmtpSink
from tests.fakes.woocommerce_server import FakeWooCommerce
from tests.harness import FakeGraph, make_settings
from tests.recovery.conftest import recovery_row, until
from tests.recovery.test_drip import HOUR, SECOND, Drip, at, steps_count
from tests.shop import Shop, make_shop
from worker import build_worker


@pytest.fixture
async def shopify() -> AsyncIterator[FakeShopify]:
    async with FakeShopify(shop_domain=f"t{uuid.uuid4().hex[:10]}.myshopify.com") as fake:
        yield fake


@pytest.fixture
async def woo() -> AsyncIterator[FakeWooCommerce]:
    async with FakeWooCommerce() as fake:
        yield fake


@pytest.fixture
async def drip(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    shopify: FakeShopify,
) -> AsyncIterator[Drip]:
    """A worker whose store clients reach the fake stores over real HTTP."""
    with SmtpSink() as smtp:
        settings = make_settings(
            database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            shopify_base_url_template=shopify.url,
            shopify_client_id=shopify.client_id,
            shopify_client_secret=shopify.client_secret,
        )
        graph = FakeGraph()
        graph_http = httpx.AsyncClient(transport=httpx.MockTransport(graph.handler))
        async with (
            httpx.AsyncClient() as store_http,
            build_worker(
                time_env.client,
                sessions=sessionmaker,
                graph_http=graph_http,
                settings=settings,
                store_http=store_http,
            ),
        ):
            yield Drip(
                time_env,
                sessionmaker,
                settings,
                graph,
                smtp,
                RecoveryTrigger(sessionmaker, time_env.client, settings),
            )
        await graph_http.aclose()


async def connected_shop(drip: Drip, kind: str, shopify: FakeShopify, woo: FakeWooCommerce) -> Shop:
    shop = await make_shop(drip.sessions)
    async with drip.sessions() as session, session.begin():
        if kind == "shopify":
            await connect(
                session,
                drip.settings.keyring,
                tenant_id=shop.tenant_id,
                kind="shopify",
                name="Shopify",
                credentials=shopify.credentials(),
                shop_domain=shopify.shop_domain,
            )
        else:
            await connect(
                session,
                drip.settings.keyring,
                tenant_id=shop.tenant_id,
                kind="woocommerce",
                name="Woo",
                credentials=woo.credentials(),
                base_url=woo.url,
            )
    return shop


async def run_whole_drip(drip: Drip, shop: Shop) -> tuple[uuid.UUID, list[dict]]:
    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    await drip.env.sleep(72 * HOUR + SECOND)
    steps = await steps_count(drip, cart_id, 4)
    outcome = await handle.result()
    assert outcome == RecoveryOutcome(status="finished", reason=None, steps_sent=[0, 1, 2, 3])
    await until(lambda: asyncio.sleep(0, len(drip.mails(buyer)) == 3))
    assert len(drip.mails(buyer)) == 3
    return cart_id, steps


async def coupons_of(drip: Drip, cart_id: uuid.UUID) -> dict[str, Coupon]:
    async with drip.sessions() as session:
        found = await session.execute(select(Coupon).where(Coupon.cart_id == cart_id))
        return {c.code: c for c in found.scalars()}


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
async def test_codes_are_created_once_in_the_connected_store(
    drip: Drip, shopify: FakeShopify, woo: FakeWooCommerce, kind: str
):
    shop = await connected_shop(drip, kind, shopify, woo)
    cart_id, steps = await run_whole_drip(drip, shop)
    code2, code3 = steps[2]["coupon_code"], steps[3]["coupon_code"]
    assert steps[1]["coupon_code"] is None
    ours = await coupons_of(drip, cart_id)
    assert set(ours) == {code2, code3}
    assert ours[code2].expires_at == at(steps[2]) + drip.settings.cart_recovery_code_ttl_s * SECOND

    if kind == "shopify":
        assert set(shopify.discounts) == {code2, code3}
        for code, percent in ((code2, 0.10), (code3, 0.15)):
            made = shopify.discounts[code]
            assert made["code"] == code
            assert made["customerGets"]["value"] == {"percentage": percent}
            assert (made["usageLimit"], made["appliesOncePerCustomer"]) == (1, True)
            expires = ours[code].expires_at.astimezone(UTC).replace(microsecond=0)
            assert made["endsAt"].replace("Z", "+00:00") == expires.isoformat()
            assert ours[code].external_id == made["id"].rsplit("/", 1)[1]
        assert shopify.violations == []
    else:
        made = {c["code"]: c for c in woo.coupons.values()}  # WooCommerce lower-cases codes
        assert set(made) == {code2.lower(), code3.lower()}
        for code, amount in ((code2, "10.00"), (code3, "15.00")):
            coupon = made[code.lower()]
            assert (coupon["discount_type"], coupon["amount"], coupon["usage_limit"]) == (
                "percent",
                amount,
                1,
            )
            assert coupon["individual_use"] is True
            expires = ours[code].expires_at.astimezone(UTC).replace(tzinfo=None)
            assert coupon["date_expires_gmt"] == expires.isoformat(timespec="seconds")
            assert ours[code].external_id == str(coupon["id"])
        assert woo.requests["POST /wp-json/wc/v3/coupons"] == 2
        assert woo.violations == []


async def test_a_store_refusing_our_credentials_does_not_stop_the_drip(
    drip: Drip, shopify: FakeShopify, woo: FakeWooCommerce
):
    shop = await connected_shop(drip, "shopify", shopify, woo)
    shopify.expire_access_tokens()  # every call now answers 401 (a revoked app)
    cart_id, steps = await run_whole_drip(drip, shop)
    code2, code3 = steps[2]["coupon_code"], steps[3]["coupon_code"]
    ours = await coupons_of(drip, cart_id)
    # The codes live in our coupons table only (the chat checkout applies them).
    assert set(ours) == {code2, code3}
    assert [c.external_id for c in ours.values()] == [None, None]
    assert shopify.discounts == {}
    row = await recovery_row(drip.sessions, cart_id)
    assert row.status == "finished"
    assert {(c.value, c.usage_limit, c.times_used) for c in ours.values()} == {
        (Decimal("10.000"), 1, 0),
        (Decimal("15.000"), 1, 0),
    }
