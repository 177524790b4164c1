"""send_once: at most one mail per (tenant, key), against real Postgres and a real SMTP server."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.mail import MailActivities
from tendero.db.models.mail import OutboundEmail
from tendero.domain.mail import SendEmailInput
from tendero.mail.outbox import send_once
from tendero.mail.smtp import Mailer, MailNotConfigured, MailUnavailable
from tendero.settings import Settings
from tests.api import new_tenant
from tests.fakes.smtp import SmtpSink, free_port
from tests.mail.helpers import smtp_settings

Sessions = async_sessionmaker[AsyncSession]
TO = "customer@example.com"
CREATED = {
    "shop": "Corner Shop",
    "ticket_number": "T-7",
    "subject": "Late delivery",
    "priority": "normal",
    "category": "shipping",
}


async def row(sessions: Sessions, tenant_id: uuid.UUID, key: str) -> OutboundEmail:
    async with sessions() as session:
        return (
            await session.execute(
                select(OutboundEmail).where(
                    OutboundEmail.tenant_id == tenant_id, OutboundEmail.key == key
                )
            )
        ).scalar_one()


async def send(sessions: Sessions, mailer: Mailer, tenant_id: uuid.UUID, key: str, **extra):
    values = {
        "tenant_id": tenant_id,
        "key": key,
        "to": TO,
        "template": "ticket_created",
        "language": "en",
        "values": CREATED,
    }
    values.update(extra)
    return await send_once(sessions, mailer, **values)


async def test_twice_with_the_same_key_sends_one_mail(sessionmaker: Sessions) -> None:
    tenant = await new_tenant(sessionmaker)
    sent_at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with SmtpSink() as smtp:
        mailer = Mailer(smtp_settings(smtp.port))
        first = await send(sessionmaker, mailer, tenant.id, "ticket:T-7:created", now=sent_at)
        second = await send(sessionmaker, mailer, tenant.id, "ticket:T-7:created")
        smtp.wait_for(1)
        time.sleep(0.2)
        assert len(smtp.messages) == 1
    assert first.status == "sent" and second.status == "already_sent"
    assert first.email_id == second.email_id and first.message_id == second.message_id
    (message,) = smtp.messages
    assert message["Message-ID"] == first.message_id == f"<{first.email_id}@corner.example>"
    stored = await row(sessionmaker, tenant.id, "ticket:T-7:created")
    assert stored.status == "sent" and stored.attempts == 1 and stored.sent_at == sent_at
    assert stored.subject == message["Subject"] == "[Corner Shop] New ticket #T-7: Late delivery"
    assert stored.body_text is not None and "Late delivery" in stored.body_text
    assert stored.template == "ticket_created" and stored.to_address == TO


async def test_keys_are_per_tenant(sessionmaker: Sessions) -> None:
    one, two = await new_tenant(sessionmaker), await new_tenant(sessionmaker)
    with SmtpSink() as smtp:
        mailer = Mailer(smtp_settings(smtp.port))
        a = await send(sessionmaker, mailer, one.id, "same-key")
        b = await send(sessionmaker, mailer, two.id, "same-key")
        smtp.wait_for(2)
    assert a.status == b.status == "sent" and a.email_id != b.email_id


async def test_refused_recipient_is_recorded_and_never_retried(sessionmaker: Sessions) -> None:
    tenant = await new_tenant(sessionmaker)
    with SmtpSink() as smtp:
        smtp.refuse(TO)
        mailer = Mailer(smtp_settings(smtp.port))
        first = await send(sessionmaker, mailer, tenant.id, "refused")
        smtp.refused.clear()  # even if the address became valid, the key stays refused
        second = await send(sessionmaker, mailer, tenant.id, "refused")
        time.sleep(0.2)
        assert smtp.messages == []
    assert first.status == second.status == "refused"
    stored = await row(sessionmaker, tenant.id, "refused")
    assert stored.status == "refused" and stored.error == "smtp 550" and stored.attempts == 1
    assert stored.sent_at is None


async def test_server_down_then_up_resends_with_the_same_message_id(
    sessionmaker: Sessions,
) -> None:
    tenant = await new_tenant(sessionmaker)
    port = free_port()
    mailer = Mailer(smtp_settings(port))
    with pytest.raises(MailUnavailable):
        await send(sessionmaker, mailer, tenant.id, "down")
    stored = await row(sessionmaker, tenant.id, "down")
    assert stored.status == "sending" and stored.attempts == 1 and stored.sent_at is None

    with SmtpSink(port=port) as smtp:
        retry = await send(sessionmaker, mailer, tenant.id, "down")
        again = await send(sessionmaker, mailer, tenant.id, "down")
        smtp.wait_for(1)
        time.sleep(0.2)
        assert len(smtp.messages) == 1
    assert retry.status == "sent" and again.status == "already_sent"
    assert smtp.messages[0]["Message-ID"] == stored.message_id == retry.message_id
    stored = await row(sessionmaker, tenant.id, "down")
    assert stored.status == "sent" and stored.attempts == 2


async def test_keep_body_false_stores_no_body(sessionmaker: Sessions) -> None:
    tenant = await new_tenant(sessionmaker)
    values = {"shop": "Corner Shop", "code": "482913", "minutes": "5"}
    with SmtpSink() as smtp:
        mailer = Mailer(smtp_settings(smtp.port))
        outcome = await send(
            sessionmaker,
            mailer,
            tenant.id,
            "verify:1",
            template="verification_code",
            language="es",
            values=values,
            keep_body=False,
        )
        (message,) = smtp.wait_for(1)
    assert outcome.status == "sent"
    assert "482913" in message.get_body(("plain",)).get_content()
    stored = await row(sessionmaker, tenant.id, "verify:1")
    assert stored.body_text is None and stored.language == "es"
    assert "482913" not in stored.subject


async def test_not_configured_keeps_the_row_sending(sessionmaker: Sessions) -> None:
    tenant = await new_tenant(sessionmaker)
    mailer = Mailer(Settings(_env_file=None, smtp_host=None))  # type: ignore[call-arg]
    with pytest.raises(MailNotConfigured):
        await send(sessionmaker, mailer, tenant.id, "unconfigured")
    assert (await row(sessionmaker, tenant.id, "unconfigured")).status == "sending"


async def test_activity_reports_and_raises(sessionmaker: Sessions) -> None:
    tenant = await new_tenant(sessionmaker)
    env = ActivityEnvironment()
    data = SendEmailInput(
        tenant_id=tenant.id, key="act", to=TO, template="ticket_created", values=CREATED
    )
    with SmtpSink() as smtp:
        activities = MailActivities(sessionmaker, Mailer(smtp_settings(smtp.port)))
        result = await env.run(activities.send_email, data)
        assert result.status == "sent"
        smtp.refuse("nobody@example.com")
        refused = await env.run(
            activities.send_email,
            data.model_copy(update={"key": "act-2", "to": "nobody@example.com"}),
        )
        assert refused.status == "refused"
        smtp.wait_for(1)

    down = MailActivities(sessionmaker, Mailer(smtp_settings(free_port())))
    with pytest.raises(ApplicationError) as caught:
        await env.run(down.send_email, data.model_copy(update={"key": "act-3"}))
    assert caught.value.type == "MailUnavailable" and not caught.value.non_retryable

    off = MailActivities(sessionmaker, Mailer(Settings(_env_file=None, smtp_host=None)))  # type: ignore[call-arg]
    with pytest.raises(ApplicationError) as caught:
        await env.run(off.send_email, data.model_copy(update={"key": "act-4"}))
    assert caught.value.type == "MailNotConfigured" and caught.value.non_retryable

    with pytest.raises(ApplicationError) as caught:
        await env.run(off.send_email, data.model_copy(update={"key": "act-5", "values": {}}))
    assert caught.value.type == "MailTemplateError" and caught.value.non_retryable
