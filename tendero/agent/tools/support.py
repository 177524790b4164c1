"""Support tools: tickets and hand-off to a person, for every business type."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tendero.agent.tools.base import ToolContext, ToolFailure, ToolResult
from tendero.db.repos import orders as orders_repo
from tendero.db.repos import tickets as tickets_repo
from tendero.domain.conversation import HandOff, Owner, StartTicket

# Photos the customer sent this long before the ticket are taken as its evidence.
RECENT_PHOTOS = timedelta(minutes=30)


class CreateTicketArgs(BaseModel):
    """Open a support ticket for the customer."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="One of the categories listed in the instructions.")
    subject: str = Field(min_length=3, max_length=120)
    description: str = Field(min_length=3, max_length=2000)
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    order_reference: str | None = Field(
        default=None, max_length=40, description="The customer's order number, if any."
    )


class GetTicketArgs(BaseModel):
    """The customer's tickets, or one of them by number."""

    model_config = ConfigDict(extra="forbid")

    ticket_number: str | None = Field(default=None, max_length=40)


class RequestHumanArgs(BaseModel):
    """Hand the conversation to a person of the business."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


async def create_ticket_report(ctx: ToolContext, args: CreateTicketArgs) -> ToolResult:
    """Record an ``open`` ticket, linked to the customer's own order when one is named.

    Raises:
        ToolFailure: ``unknown_category`` (with the allowed list) or ``order_not_found``.
    """
    categories = list(ctx.preset.ticket_categories)
    if args.category not in categories:
        raise ToolFailure(
            "unknown_category", "Use one of the allowed categories.", allowed=categories
        )
    order_id = None
    if args.order_reference:
        order = await orders_repo.get_customer_order(
            ctx.session,
            tenant_id=ctx.tenant.id,
            customer_id=ctx.customer.id,
            number=args.order_reference.strip(),
            business_type=ctx.preset.name,
        )
        if order is None:
            raise ToolFailure(
                "order_not_found",
                "No order matches that reference for this customer; ask for the number "
                "again or open the ticket without it.",
            )
        order_id = order.order_id
    ticket = await tickets_repo.create_ticket(
        ctx.session,
        tenant_id=ctx.tenant.id,
        prefix=ctx.tenant.ticket_prefix,
        business_type=ctx.preset.name,
        customer_id=ctx.customer.id,
        conversation_id=ctx.conversation.id,
        order_id=order_id,
        category=args.category,
        subject=args.subject,
        description=args.description,
        priority=args.priority,
        source="assistant",
        now=ctx.now,
        media_ids=await tickets_repo.recent_media_ids(
            ctx.session, conversation_id=ctx.conversation.id, since=ctx.now - RECENT_PHOTOS
        ),
    )
    return ToolResult(
        commands=[StartTicket(ticket_id=ticket.id, number=ticket.number)],
        content={
            "ticket_number": ticket.number,
            "status": "open",
            "category": args.category,
            "priority": args.priority,
            "order_reference": args.order_reference.strip().upper()
            if args.order_reference
            else None,
            "noun": ctx.preset.noun(ctx.language),
        },
    )


async def get_ticket_information(ctx: ToolContext, args: GetTicketArgs) -> ToolResult:
    """The customer's tickets (another customer's number finds nothing)."""
    tickets = await tickets_repo.list_customer_tickets(
        ctx.session,
        tenant_id=ctx.tenant.id,
        customer_id=ctx.customer.id,
        business_type=ctx.preset.name,
        number=args.ticket_number,
    )
    if not tickets:
        return ToolResult(
            content={"found": False, "message": "No ticket matches that for this customer."}
        )
    return ToolResult(
        content={"found": True, "tickets": [t.model_dump(mode="json") for t in tickets]}
    )


async def request_human_agent(ctx: ToolContext, args: RequestHumanArgs) -> ToolResult:
    """Move the conversation to waiting-for-human; the bot stops answering free text."""
    ctx.conversation.owner = Owner.WAITING_FOR_HUMAN.value
    return ToolResult(
        content={
            "handed_off": True,
            "next": "Tell the customer, in one short sentence, that a person of the team "
            "will answer in this chat.",
        },
        commands=[HandOff()],
    )
