"""Checkout activities: price the summary, compose checkout messages, confirm, place order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.recovery import signal_checked_out
from tendero.agent.texts import t
from tendero.checkout.pricing import Discount, price_summary
from tendero.db.base import utcnow
from tendero.db.models import Cart, Conversation, Tenant
from tendero.db.repos.carts import load_cart
from tendero.db.repos.conversations import add_outbound_replies
from tendero.domain.activities import (
    CheckoutMessageInput,
    ConfirmInput,
    ConfirmResult,
    PlaceOrderInput,
    SummaryInput,
    SummaryResult,
)
from tendero.domain.checkout import ConfirmAck, ConfirmRequest, Fulfilment, PlacedOrder
from tendero.domain.messages import Button, ListRow, ListSection, Reply
from tendero.domain.money import Money, format_money, money_locale
from tendero.errors import CheckoutError, EmptyCartError, OutOfStockError, StoreError
from tendero.recovery import check_coupon
from tendero.stores.base import StoreConnector
from tendero.stores.factory import StoreClients
from tendero.stores.integrations import connected_integration
from tendero.stores.native import NativeStore
from tendero.stores.remote import RemoteStore


class CheckoutActivities:
    """Activities of the CheckoutWorkflow (and the conversation's CONFIRM hand-off).

    Args:
        sessions: database session factory.
        client: Temporal client, to send the confirmation update (workflows cannot).
        default_confirm_ttl_s: ``CHECKOUT_CONFIRM_TTL_S``, when the tenant sets none.
        stores: store clients, for tenants connected to a store (``None``: native only).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: Client,
        default_confirm_ttl_s: int,
        stores: StoreClients | None = None,
    ) -> None:
        """Inject clients and defaults."""
        self._sessions = sessions
        self._client = client
        self._default_ttl_s = default_confirm_ttl_s
        self._stores = stores

    @activity.defn(name="prepare_summary")
    async def prepare_summary(self, data: SummaryInput) -> SummaryResult:
        """Price the open cart for the choices, from current prices and the tenant's rules."""
        ref = data.conversation
        async with self._sessions() as session:
            tenant = await session.get_one(Tenant, ref.tenant_id)
            cart = await session.get(Cart, data.cart_id)
            view = await load_cart(session, tenant_id=ref.tenant_id, cart_id=data.cart_id)
        common: dict[str, Any] = {
            "confirm_ttl_s": tenant.checkout_confirm_ttl_s or self._default_ttl_s,
            "payment_methods": list(tenant.payment_methods),
            "cart_version": view.version if view else 0,
        }
        if cart is None or view is None or cart.customer_id != ref.customer_id:
            return SummaryResult(problem="cart_closed", **common)
        if cart.status != "open":
            return SummaryResult(problem="cart_closed", **common)
        unavailable = [
            line.product_name + (f" ({line.label})" if line.label else "")
            for line in view.lines
            if not line.in_stock
            or (line.stock_quantity is not None and line.stock_quantity < line.quantity)
        ]
        if unavailable:
            return SummaryResult(problem="out_of_stock", unavailable=unavailable, **common)
        if data.choices.fulfilment is None or data.choices.payment_method is None:
            return SummaryResult(**common)
        discount: Discount | None = None
        refused: str | None = None
        if cart.discount_code:
            async with self._sessions() as session:
                checked = await check_coupon(
                    session,
                    tenant_id=ref.tenant_id,
                    code=cart.discount_code,
                    cart_id=cart.id,
                    now=utcnow(),
                )
            if isinstance(checked, Discount):
                discount = checked
            else:
                refused = checked
        try:
            summary = price_summary(
                cart=view,
                choices=data.choices,
                currency=tenant.currency,
                tax_rate=tenant.tax_rate,
                delivery_fee=tenant.delivery_fee,
                discount=discount,
                discount_refused=refused,
            )
        except EmptyCartError:
            return SummaryResult(problem="empty", **common)
        return SummaryResult(summary=summary, **common)

    @activity.defn(name="compose_checkout_message")
    async def compose_checkout_message(self, data: CheckoutMessageInput) -> list[Any]:
        """Store the checkout message ``kind`` under ``key`` and return the message ids."""
        ref = data.conversation
        async with self._sessions() as session, session.begin():
            tenant = await session.get_one(Tenant, ref.tenant_id)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            language = conversation.language or tenant.language
            replies = _checkout_replies(tenant, language, data)
            return list(
                await add_outbound_replies(
                    session,
                    conversation_id=ref.conversation_id,
                    tenant_id=ref.tenant_id,
                    replies=replies,
                    key_prefix=data.key,
                )
            )

    @activity.defn(name="place_order")
    async def place_order(self, data: PlaceOrderInput) -> PlacedOrder:
        """Create the order through the tenant's store connector, exactly once.

        Then the cart's recovery drip is credited with the order (when a step had gone
        out) and its workflow told ``checked_out``. A discount code on the summary is
        redeemed in the order's transaction; one used up meanwhile is a ``PriceChanged``
        (the customer gets a new summary without it).

        Raises:
            ApplicationError: ``OutOfStock`` (details: the unavailable lines),
                ``PriceChanged``, ``CartChanged``, ``NotFound``: not retryable.
        """
        ref = data.conversation
        store = await self._connector(ref.tenant_id)
        try:
            placed = await store.create_order(
                customer_id=ref.customer_id,
                summary=data.summary,
                idempotency_key=data.idempotency_key,
            )
        except OutOfStockError as err:
            raise ApplicationError(
                str(err), err.unavailable, type=err.code, non_retryable=True
            ) from err
        except CheckoutError as err:
            raise ApplicationError(str(err), type=err.code, non_retryable=True) from err
        except StoreError as err:
            # Outages are retried (the order waits for the store, it is not lost); a store
            # that refuses the order fails the checkout.
            raise ApplicationError(
                f"the store did not take the order: {err.code}",
                type=err.code,
                non_retryable=not err.retryable,
            ) from None
        # The order is written (a retry finds it again): credit and stop the cart's drip.
        await signal_checked_out(
            self._client,
            self._sessions,
            tenant_id=ref.tenant_id,
            cart_id=data.summary.cart_id,
            order_id=placed.order_id,
        )
        return placed

    async def _connector(self, tenant_id: Any) -> StoreConnector:
        """The tenant's connected store when it has one, else our own catalog."""
        if self._stores is not None:
            async with self._sessions() as session:
                integration = await connected_integration(session, tenant_id)
            if integration is not None:
                _, client = await self._stores.get(integration.id)
                return RemoteStore(self._sessions, tenant_id, client)
        return NativeStore(self._sessions, tenant_id)

    @activity.defn(name="confirm_checkout")
    async def confirm_checkout(self, data: ConfirmInput) -> ConfirmResult:
        """Send the CONFIRM update to the checkout; store the refusal reply if refused.

        The update's validator refuses a stale summary or an expired checkout before
        anything is written to its history; a finished checkout cannot be found at all.
        """
        handle = self._client.get_workflow_handle(data.workflow_id)
        try:
            await handle.execute_update(
                "confirm",
                ConfirmRequest(summary_id=data.summary_id, cart_version=data.cart_version),
                id=f"confirm:{data.message_id}",
                result_type=ConfirmAck,
            )
            return ConfirmResult(outcome="accepted")
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            reason = cause.type if isinstance(cause, ApplicationError) else None
            outcome: Any = {"Expired": "expired", "Stale": "stale"}.get(reason or "", "not_waiting")
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            outcome = "expired"
        key = {"expired": "confirm_expired", "stale": "cart_changed"}.get(
            outcome, "nothing_to_confirm"
        )
        ref = data.conversation
        async with self._sessions() as session, session.begin():
            tenant = await session.get_one(Tenant, ref.tenant_id)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            ids = await add_outbound_replies(
                session,
                conversation_id=ref.conversation_id,
                tenant_id=ref.tenant_id,
                replies=[Reply.text(t(conversation.language or tenant.language, key))],
                key_prefix=f"confirm:{data.message_id}",
            )
        return ConfirmResult(outcome=outcome, outbound_ids=ids)


def _checkout_replies(tenant: Tenant, language: str, data: CheckoutMessageInput) -> list[Reply]:
    def money(amount: Decimal) -> str:
        locale = money_locale(tenant.locale, language)
        return format_money(Money(amount=amount, currency=tenant.currency), locale)

    def say(key: str, **values: Any) -> str:
        return t(language, key, **values)

    kind = data.kind
    if kind == "ask_fulfilment":
        return [
            Reply(
                kind="buttons",
                body=say("ask_fulfilment"),
                buttons=[
                    Button(id="ful:delivery", title=say("btn_delivery")),
                    Button(id="ful:pickup", title=say("btn_pickup")),
                ],
            )
        ]
    if kind == "ask_address":
        return [Reply.text(say("ask_address"))]
    if kind == "ask_payment":
        rows = [
            ListRow(id=f"pay:{method}", title=_payment_label(language, method))
            for method in tenant.payment_methods[:10]
        ]
        if len(rows) <= 3:
            buttons = [Button(id=row.id, title=row.title) for row in rows]
            return [Reply(kind="buttons", body=say("ask_payment"), buttons=buttons)]
        return [
            Reply(
                kind="list",
                body=say("ask_payment"),
                list_button=say("list_open"),
                sections=[ListSection(rows=rows)],
            )
        ]
    if kind in {"summary", "prices_changed", "cart_changed"}:
        summary = data.summary
        assert summary is not None
        lines = "\n".join(
            say(
                "cart_line",
                quantity=line.quantity,
                label=line.product_name
                + (f" ({line.variant_label})" if line.variant_label else ""),
                total=money(line.line_total),
            )
            for line in summary.lines
        )
        if summary.fulfilment is Fulfilment.DELIVERY:
            assert summary.address is not None
            fulfilment = say("deliver_to", address=summary.address.describe())
            fee_line = say("fee_line", fee=money(summary.delivery_fee))
        else:
            fulfilment = say("pickup_at", address=tenant.pickup_address or tenant.name)
            fee_line = ""
        if summary.discount_code and summary.discount:
            fee_line = (
                say(
                    "recovery_discount_line",
                    code=summary.discount_code,
                    amount=money(summary.discount),
                )
                + fee_line
            )
        body = say(
            "summary",
            lines=lines,
            subtotal=money(summary.subtotal),
            fee_line=fee_line,
            tax=money(summary.tax),
            total=money(summary.total),
            fulfilment=fulfilment,
            payment=_payment_label(language, summary.payment_method),
            minutes=max(1, data.confirm_ttl_s // 60),
        )
        replies = [Reply.text(body)]
        if summary.discount_refused:
            replies.insert(0, Reply.text(say(f"recovery_code_{summary.discount_refused}")))
        if kind != "summary":
            replies.insert(0, Reply.text(say(kind)))
        return replies
    if kind == "placed":
        order, summary = data.order, data.summary
        assert order is not None and summary is not None
        if summary.fulfilment is Fulfilment.DELIVERY:
            assert summary.address is not None
            next_step = say(
                "next_delivery", address=summary.address.describe(), number=order.number
            )
        else:
            next_step = say(
                "next_pickup", address=tenant.pickup_address or tenant.name, number=order.number
            )
        return [
            Reply.text(
                say("order_placed", number=order.number, total=money(order.total), next=next_step)
            )
        ]
    if kind == "out_of_stock":
        return [Reply.text(say("order_failed_stock", items=", ".join(data.unavailable)))]
    if kind == "expired":
        return [Reply.text(say("expired"))]
    if kind == "timed_out":
        return [Reply.text(say("checkout_timed_out"))]
    if kind == "error":
        return [Reply.text(say("checkout_error"))]
    if kind == "cancelled":
        return [Reply.text(say("checkout_cancelled"))]
    return [Reply.text(say("cart_empty"))]


def _payment_label(language: str, method: str) -> str:
    try:
        return t(language, f"pay_{method}")
    except KeyError:
        return method.replace("_", " ").capitalize()
