"""Activities of the TicketWorkflow: read a ticket, apply one change, e-mail the agents."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tendero.agent.texts import t
from tendero.db.base import utcnow
from tendero.db.models import Conversation, Message, Tenant, Ticket, TicketEvent, User
from tendero.db.repos.conversations import add_outbound_replies
from tendero.domain.conversation import ConversationRef
from tendero.domain.messages import Button, Reply
from tendero.domain.tickets import (
    NotifyAgentsInput,
    OpenTicketInput,
    TicketChange,
    TicketChangeResult,
    TicketSnapshot,
    TicketState,
    sla_policy,
)
from tendero.mail.outbox import send_once
from tendero.mail.smtp import Mailer, MailNotConfigured, MailUnavailable

logger = logging.getLogger(__name__)

# WhatsApp's customer-service window: free-form messages only within 24 hours of the
# customer's last message (notes/whatsapp.md).
SERVICE_WINDOW = timedelta(hours=24)


def _not_found() -> ApplicationError:
    return ApplicationError("ticket not found", type="NotFound", non_retryable=True)


def window_open(conversation: Conversation, now: datetime) -> bool:
    """True while the customer's last message is less than 24 hours old."""
    last = conversation.last_inbound_at
    return last is not None and now < last + SERVICE_WINDOW


class TicketActivities:
    """I/O of the ticket lifecycle.

    Args:
        sessions: database session factory.
        mailer: the SMTP sender (agent notifications).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], mailer: Mailer) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._mailer = mailer

    async def _ticket(self, session: AsyncSession, tenant_id: UUID, ticket_id: UUID) -> Ticket:
        found = await session.execute(
            select(Ticket)
            .where(Ticket.id == ticket_id, Ticket.tenant_id == tenant_id)
            .with_for_update()
        )
        ticket = found.scalar_one_or_none()
        if ticket is None:
            raise _not_found()
        return ticket

    @activity.defn(name="open_ticket")
    async def open_ticket(self, data: OpenTicketInput) -> TicketSnapshot:
        """The ticket as the workflow starts tracking it, with its tenant's SLA targets.

        Raises:
            ApplicationError: ``NotFound`` (not retried).
        """
        async with self._sessions() as session:
            ticket = await self._ticket(session, data.tenant_id, data.ticket_id)
            tenant = await session.get_one(Tenant, data.tenant_id)
            conversation = (
                await session.get(Conversation, ticket.conversation_id)
                if ticket.conversation_id
                else None
            )
            try:
                policy = sla_policy(tenant.ticket_sla)
            except ValueError:
                logger.warning("tenant %s has invalid SLA settings: defaults used", tenant.id)
                policy = sla_policy(None)
            return TicketSnapshot(
                number=ticket.number,
                state=TicketState(ticket.status),
                priority=ticket.priority,
                assignee_id=ticket.assignee_id,
                conversation=None
                if conversation is None
                else ConversationRef(
                    tenant_id=tenant.id,
                    customer_id=conversation.customer_id,
                    conversation_id=conversation.id,
                    channel=conversation.channel,
                ),
                sla=policy,
                auto_close_s=tenant.ticket_auto_close_days * 24 * 3600,
            )

    @activity.defn(name="apply_ticket_change")
    async def apply_ticket_change(self, data: TicketChange) -> TicketChangeResult:
        """Write one event and the ticket's new values; store the customer's notice.

        Idempotent: the event's key is unique per ticket; a retry finds it and returns the
        notice it stored without changing anything again.

        Raises:
            ApplicationError: ``NotFound``; ``WindowClosed`` when ``enforce_window`` and the
                customer's last message is 24 hours old or more (nothing is written).
        """
        prefix = f"ticket:{data.ticket_id}:{data.key}"
        async with self._sessions() as session, session.begin():
            ticket = await self._ticket(session, data.tenant_id, data.ticket_id)
            done = await session.scalar(
                select(TicketEvent.id).where(
                    TicketEvent.ticket_id == ticket.id, TicketEvent.key == data.key
                )
            )
            if done is not None:
                stored = await session.execute(
                    select(Message.id)
                    .where(Message.outbound_key.startswith(prefix + ":"))
                    .order_by(Message.outbound_key)
                )
                return TicketChangeResult(outbound_ids=list(stored.scalars()), applied=False)
            conversation = (
                await session.get(Conversation, ticket.conversation_id)
                if ticket.conversation_id
                else None
            )
            now = utcnow()
            if data.enforce_window and (conversation is None or not window_open(conversation, now)):
                raise ApplicationError(
                    "the customer's last message is more than 24 hours old: WhatsApp only "
                    "allows template messages now",
                    type="WindowClosed",
                    non_retryable=True,
                )
            self._apply(ticket, data)
            ticket.updated_at = now
            session.add(
                TicketEvent(
                    tenant_id=data.tenant_id,
                    ticket_id=ticket.id,
                    key=data.key,
                    kind=data.kind,
                    actor=data.actor,
                    user_id=data.user_id,
                    text=data.text,
                    data=data.data,
                    at=data.at,
                )
            )
            outbound_ids: list[UUID] = []
            if data.notify and conversation is not None:
                tenant = await session.get_one(Tenant, data.tenant_id)
                replies = await self._notice(session, data, ticket, tenant, conversation)
                outbound_ids = await add_outbound_replies(
                    session,
                    conversation_id=conversation.id,
                    tenant_id=data.tenant_id,
                    replies=replies,
                    key_prefix=prefix,
                )
        return TicketChangeResult(outbound_ids=outbound_ids)

    @staticmethod
    def _apply(ticket: Ticket, data: TicketChange) -> None:
        if data.state is not None:
            ticket.status = data.state.value
            if data.state is not TicketState.RESOLVED and data.state is not TicketState.CLOSED:
                ticket.resolved_at = None
        for field in (
            "priority",
            "assignee_id",
            "first_response_due",
            "resolution_due",
            "first_responded_at",
            "resolved_at",
            "closed_at",
            "escalations",
        ):
            value = getattr(data, field)
            if value is not None:
                column = field + "_at" if field.endswith("_due") else field
                setattr(ticket, column, value)
        if data.media_ids:
            ticket.media_ids = [
                *ticket.media_ids,
                *(m for m in data.media_ids if m not in ticket.media_ids),
            ]
        if data.satisfaction is not None:
            ticket.satisfaction = data.satisfaction
            ticket.satisfaction_at = data.at

    async def _notice(
        self,
        session: AsyncSession,
        data: TicketChange,
        ticket: Ticket,
        tenant: Tenant,
        conversation: Conversation,
    ) -> list[Reply]:
        language = conversation.language or tenant.language
        agent = await session.get(User, data.user_id) if data.user_id else None
        if data.notify == "assigned":
            assignee = await session.get(User, data.assignee_id) if data.assignee_id else None
            name = (assignee.name if assignee else None) or tenant.name
            return [
                Reply.text(
                    t(
                        language,
                        "ticket_assigned",
                        agent=name,
                        shop=tenant.name,
                        number=ticket.number,
                    )
                )
            ]
        if data.notify == "agent_reply":
            return [
                Reply.text(
                    t(
                        language,
                        "ticket_agent_reply",
                        agent=agent.name if agent else tenant.name,
                        number=ticket.number,
                        text=data.text or "",
                    )
                )
            ]
        if data.notify == "resolved":
            return [
                Reply(
                    kind="buttons",
                    body=t(language, "ticket_resolved", number=ticket.number),
                    buttons=[
                        Button(id=f"csat:{ticket.number}:{score}", title=t(language, key))
                        for score, key in ((3, "csat_good"), (2, "csat_okay"), (1, "csat_bad"))
                    ],
                )
            ]
        if data.notify == "reopened":
            return [Reply.text(t(language, "ticket_reopened", number=ticket.number))]
        return []

    @activity.defn(name="notify_ticket_agents")
    async def notify_ticket_agents(self, data: NotifyAgentsInput) -> int:
        """E-mail every active user of the tenant about the ticket; returns how many got it.

        One mail per user and key (``outbound_emails``), so a retry never mails twice.

        Raises:
            ApplicationError: ``MailUnavailable`` (retried); ``MailNotConfigured`` (not).
        """
        async with self._sessions() as session:
            ticket = await session.get(Ticket, data.ticket_id)
            if ticket is None or ticket.tenant_id != data.tenant_id:
                raise _not_found()
            tenant = await session.get_one(Tenant, data.tenant_id)
            users = (
                await session.execute(
                    select(User.id, User.email).where(
                        User.tenant_id == data.tenant_id, User.active.is_(True)
                    )
                )
            ).all()
            values = {"shop": tenant.name, "subject": ticket.subject, **data.values}
            language = tenant.language
        sent = 0
        for user_id, email in users:
            activity.heartbeat(str(user_id))
            try:
                outcome = await send_once(
                    self._sessions,
                    self._mailer,
                    tenant_id=data.tenant_id,
                    key=f"{data.key}:{user_id}",
                    to=email,
                    template=data.template,
                    language=language,
                    values=values,
                )
            except MailNotConfigured as err:
                raise ApplicationError(
                    "SMTP is not configured", type="MailNotConfigured", non_retryable=True
                ) from err
            except MailUnavailable as err:
                raise ApplicationError(
                    "the mail server is unavailable", type="MailUnavailable"
                ) from err
            sent += outcome.status != "refused"
        return sent
