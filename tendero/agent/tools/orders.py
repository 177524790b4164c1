"""Order tools: a customer's own orders only, whatever the arguments say.

Authorization is here, not in the prompt: an order number, phone number or e-mail of
someone else gets exactly the same answer as one that does not exist. E-mail look-ups need
the conversation to be verified for that address (``tendero.identity``: a simple or an OTP
verification); any other e-mail gets the same refusal, known or not.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tendero.agent.tools.base import ToolContext, ToolResult
from tendero.db.repos import orders as orders_repo
from tendero.domain.phone import to_e164
from tendero.identity import normalise_email, verified_email

NOT_FOUND = "No order matches that reference for this customer."
EMAIL_NEEDS_VERIFICATION = (
    NOT_FOUND + " Orders can be looked up by e-mail only after the customer has verified "
    "that address: ask them to type the e-mail address on its own in a message (the shop "
    "then e-mails a code), or to look up by order number instead."
)


class GetOrderArgs(BaseModel):
    """Find the customer's order(s) by order number, their phone number or e-mail."""

    model_config = ConfigDict(extra="forbid")

    search_type: Literal["order_id", "phone", "email"]
    search_value: str = Field(min_length=1, max_length=200)
    include_items: bool = False


class GetActiveOrdersArgs(BaseModel):
    """The customer's orders that are not delivered or cancelled yet."""

    model_config = ConfigDict(extra="forbid")


async def get_ecommerce_order(ctx: ToolContext, args: GetOrderArgs) -> ToolResult:
    """The customer's own order(s) matching the reference, else the same "not found"."""
    if args.search_type == "email":
        email = normalise_email(args.search_value)
        verified = (
            None
            if email is None
            else await verified_email(
                ctx.session, conversation_id=ctx.conversation.id, now=ctx.now, email=email
            )
        )
        if verified is None:
            return ToolResult(content={"found": False, "message": EMAIL_NEEDS_VERIFICATION})
        orders = await orders_repo.list_email_orders(
            ctx.session, tenant_id=ctx.tenant.id, email=verified, business_type=ctx.preset.name
        )
    elif args.search_type == "order_id":
        order = await orders_repo.get_customer_order(
            ctx.session,
            tenant_id=ctx.tenant.id,
            customer_id=ctx.customer.id,
            number=args.search_value.strip(),
            business_type=ctx.preset.name,
        )
        orders = [] if order is None else [order]
    else:
        phone = to_e164(args.search_value)
        if phone is None or phone != ctx.customer.phone_e164:
            orders = []
        else:
            orders = await orders_repo.list_customer_orders(
                ctx.session,
                tenant_id=ctx.tenant.id,
                customer_id=ctx.customer.id,
                business_type=ctx.preset.name,
            )
    if not orders:
        return ToolResult(content={"found": False, "message": NOT_FOUND})
    return ToolResult(
        content={
            "found": True,
            "orders": [_order_json(ctx, o, include_items=args.include_items) for o in orders],
        }
    )


async def get_active_orders(ctx: ToolContext, args: GetActiveOrdersArgs) -> ToolResult:
    """The customer's active orders, newest first."""
    orders = await orders_repo.list_customer_orders(
        ctx.session,
        tenant_id=ctx.tenant.id,
        customer_id=ctx.customer.id,
        business_type=ctx.preset.name,
        active_only=True,
    )
    return ToolResult(
        content={
            "count": len(orders),
            "orders": [_order_json(ctx, o, include_items=True) for o in orders],
        }
    )


def _order_json(
    ctx: ToolContext, order: orders_repo.OrderView, *, include_items: bool
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_number": order.number,
        "status": order.status,
        "placed_at": order.created_at.isoformat(),
        "fulfilment": order.fulfilment,
        "payment_method": order.payment_method,
        "total": ctx.price(order.total),
        "timeline": [
            {"event": e.kind, "at": e.created_at.isoformat(), "note": e.note} for e in order.events
        ],
    }
    if include_items:
        data["items"] = [
            {
                "name": i.product_name + (f" ({i.variant_label})" if i.variant_label else ""),
                "quantity": i.quantity,
                "line_total": ctx.price(i.line_total),
            }
            for i in order.items
        ]
    return data
