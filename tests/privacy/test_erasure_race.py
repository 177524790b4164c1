"""A message recorded while the customer is being erased never lands on the tombstone."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.models import Customer
from tendero.db.repos import conversations as repo
from tendero.privacy import erase_customer
from tests.shop import Shop, make_shop


async def _customer(
    sessions: async_sessionmaker[AsyncSession], shop: Shop, phone: str
) -> uuid.UUID:
    async with sessions() as session, session.begin():
        customer = await repo.get_or_create_customer(
            session, tenant_id=shop.tenant_id, phone_e164=phone, wa_user_id=None, name="Ana"
        )
        return customer.id


async def _record(sessions: async_sessionmaker[AsyncSession], shop: Shop, phone: str) -> uuid.UUID:
    """What the webhook does first: find or create the customer, then write under it."""
    async with sessions() as session, session.begin():
        customer = await repo.get_or_create_customer(
            session, tenant_id=shop.tenant_id, phone_e164=phone, wa_user_id=None, name="Ana"
        )
        conversation = await repo.get_or_create_conversation(
            session, tenant_id=shop.tenant_id, customer_id=customer.id, channel="whatsapp"
        )
        return conversation.customer_id


@pytest.fixture
async def shop(sessionmaker: async_sessionmaker[AsyncSession]) -> Shop:
    return await make_shop(sessionmaker)


async def test_a_message_during_an_erasure_goes_to_a_new_customer(sessionmaker, shop: Shop):
    phone = f"+1415555{uuid.uuid4().int % 10000:04d}"
    erased = await _customer(sessionmaker, shop, phone)
    async with sessionmaker() as session, session.begin():
        await erase_customer(session, shop.tenant_id, erased)  # holds the row until commit
        webhook = asyncio.create_task(_record(sessionmaker, shop, phone))
        await asyncio.sleep(0.5)
        assert not webhook.done()  # waits for the erasure
    owner = await asyncio.wait_for(webhook, 5)
    assert owner != erased
    async with sessionmaker() as session:
        rows = (
            await session.execute(select(Customer).where(Customer.tenant_id == shop.tenant_id))
        ).scalars()
        by_id = {c.id: c.phone_e164 for c in rows if c.id in (erased, owner)}
    assert by_id == {erased: None, owner: phone}


async def test_an_erasure_waits_for_a_message_being_recorded(sessionmaker, shop: Shop):
    phone = f"+1415556{uuid.uuid4().int % 10000:04d}"
    customer_id = await _customer(sessionmaker, shop, phone)
    async with sessionmaker() as webhook, webhook.begin():
        found = await repo.get_or_create_customer(
            webhook, tenant_id=shop.tenant_id, phone_e164=phone, wa_user_id=None, name="Ana"
        )
        assert found.id == customer_id

        async def erase() -> dict[str, int]:
            async with sessionmaker() as session, session.begin():
                return await erase_customer(session, shop.tenant_id, customer_id)

        erasure = asyncio.create_task(erase())
        await asyncio.sleep(0.5)
        assert not erasure.done()  # waits for the message's transaction
        await repo.get_or_create_conversation(
            webhook, tenant_id=shop.tenant_id, customer_id=customer_id, channel="whatsapp"
        )
    counts = await asyncio.wait_for(erasure, 5)
    # The conversation written meanwhile went with the rest.
    assert counts["conversations"] == 1
