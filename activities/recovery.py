"""Abandoned-cart recovery: the workflow's activities and the triggers that signal it.

- ``RecoveryActivities``: ``start_cart_recovery`` (row + plan), ``cart_recovery_step``
  (decide in the database, then send the chat nudge or the e-mail, with its discount code),
  ``finish_cart_recovery``.
- ``RecoveryTrigger``: called by the activities that change a cart or a consent, after they
  commit. It compares the database with what the cart's workflow was last told and sends
  what is missing (signal-with-start ``cart_changed``, or ``emptied`` / ``opted_out``), so a
  retried activity re-sends the same idempotent signal. ``signal_checked_out`` credits an
  order to the drip and stops it.

The database check before every step is the guarantee; the signals make stopping prompt.
"""

from __future__ import annotations

import logging
import urllib.parse
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.tickets import window_open
from tendero.agent.texts import t
from tendero.consent import current_consent
from tendero.db.base import utcnow
from tendero.db.models import CartItem, Conversation, Coupon, Customer, Message, Tenant
from tendero.db.repos.carts import get_open_cart
from tendero.db.repos.conversations import add_outbound_replies
from tendero.domain.conversation import ConversationRef
from tendero.domain.ids import cart_recovery_workflow_id
from tendero.domain.messages import Button, Reply
from tendero.domain.money import Money, format_money, money_locale
from tendero.domain.recovery import (
    CartChanged,
    FinishRecoveryInput,
    RecoveryInput,
    RecoveryOutcome,
    RecoveryPlan,
    RecoveryStop,
    StartRecoveryInput,
    StepInput,
    StepResult,
)
from tendero.errors import StoreError, StoreNotSupported, StoreRejected
from tendero.mail.outbox import send_once
from tendero.mail.smtp import Mailer, MailNotConfigured, MailUnavailable
from tendero.recovery import (
    ACTIVE_STATES,
    CartSnapshot,
    RecoveryPolicy,
    attribute_order,
    decide,
    ensure_coupon,
    get_recovery,
    mark_finished,
    mark_stopped,
    record_step,
    recovery_code,
    sent_steps,
    snapshot,
    start_recovery,
    tenant_policy,
    unsubscribe_token,
)
from tendero.settings import Settings
from tendero.stores.factory import StoreClients
from tendero.stores.integrations import connected_integration
from tendero.stores.records import DiscountRequest

logger = logging.getLogger(__name__)

WORKFLOW_TYPE = "AbandonedCartWorkflow"
# The same typed search attributes as workflows/common.py (activities never import workflows).
_TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
_CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
_STAGE = SearchAttributeKey.for_keyword("Stage")
# Stop reasons after which a cart change starts no new drip while consent is still missing.
_CONSENT_STOPS = ("no_consent", "opted_out")
# Drips that are over for good: every step sent, or the cart's order credited to them.
_ENDED = ("finished", "recovered")


def _not_found(what: str) -> ApplicationError:
    return ApplicationError(f"{what} not found", type="NotFound", non_retryable=True)


async def _signal(client: Client, workflow_id: str, signal: str, payload: Any) -> bool:
    """Signal a running drip; False when it is not running (nothing to stop)."""
    try:
        await client.get_workflow_handle(workflow_id).signal(signal, payload)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def signal_checked_out(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    cart_id: uuid.UUID,
    order_id: uuid.UUID,
) -> None:
    """An order was placed from the cart: credit the drip, then stop its workflow.

    Idempotent (a retried ``place_order`` credits the same order and signals again).

    Raises:
        temporalio.service.RPCError: Temporal is unreachable (the caller retries).
    """
    async with sessions() as session, session.begin():
        row = await attribute_order(
            session, tenant_id=tenant_id, cart_id=cart_id, order_id=order_id, at=utcnow()
        )
    if row is None:
        return
    await _signal(
        client,
        cart_recovery_workflow_id(tenant_id, cart_id),
        "checked_out",
        RecoveryStop(order_id=order_id),
    )


class RecoveryTrigger:
    """Keeps a customer's AbandonedCartWorkflow in step with the database.

    Args:
        sessions: database session factory.
        client: Temporal client (signals, signal-with-start).
        settings: ``CART_RECOVERY_ENABLED`` and the task queue.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], client: Client, settings: Settings
    ) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._client = client
        self._settings = settings

    async def customer_changed(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        """After a committed change of the customer's cart or consent: signal what is new.

        - a withdrawn marketing consent with an active drip: ``opted_out``;
        - the open cart at a newer version than its drip knows, with items:
          signal-with-start ``cart_changed`` (the first item starts the drip);
        - emptied: ``emptied``.

        Cheap when nothing changed (one query); safe to call again (signals are idempotent:
        they carry the cart version).

        Raises:
            temporalio.service.RPCError: Temporal is unreachable (the activity retries).
        """
        if not self._settings.cart_recovery_enabled:
            return
        async with self._sessions() as session:
            cart = await get_open_cart(session, tenant_id=tenant_id, customer_id=customer_id)
            if cart is None:
                return
            row = await get_recovery(session, tenant_id, cart.id)
            count = int(
                await session.scalar(
                    select(func.coalesce(func.sum(CartItem.quantity), 0)).where(
                        CartItem.cart_id == cart.id
                    )
                )
                or 0
            )
            consent = await current_consent(session, tenant_id=tenant_id, customer_id=customer_id)
            version = cart.version
        workflow_id = cart_recovery_workflow_id(tenant_id, cart.id)
        consented = consent is not None and consent.granted
        if row is not None and row.status in ACTIVE_STATES and consent is not None:
            if not consent.granted:
                await _signal(self._client, workflow_id, "opted_out", RecoveryStop())
                return
        if row is not None and (row.cart_version >= version or row.status in _ENDED):
            return
        if count == 0:
            if row is not None and row.status in ACTIVE_STATES:
                await _signal(
                    self._client, workflow_id, "emptied", RecoveryStop(cart_version=version)
                )
            return
        if (
            row is not None
            and row.status == "stopped"
            and row.stop_reason in _CONSENT_STOPS
            and not consented
        ):
            return
        await self._start_or_signal(tenant_id, customer_id, cart.id, version, count)
        async with self._sessions() as session, session.begin():
            # Told: the list shows the cart as it is now; the same version is not re-sent.
            told = await get_recovery(session, tenant_id, cart.id, lock=True)
            tenant = await session.get_one(Tenant, tenant_id)
            snap = await snapshot(session, tenant, cart.id)
            if told is not None and snap is not None and told.cart_version < version:
                told.cart_version = version
                told.item_count = snap.item_count
                told.value = snap.value
                told.last_activity_at = utcnow()

    async def _start_or_signal(
        self,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        cart_id: uuid.UUID,
        version: int,
        count: int,
    ) -> None:
        workflow_id = cart_recovery_workflow_id(tenant_id, cart_id)
        await self._client.start_workflow(
            WORKFLOW_TYPE,
            RecoveryInput(
                tenant_id=tenant_id,
                customer_id=customer_id,
                cart_id=cart_id,
                cart_version=version,
                item_count=count,
            ),
            id=workflow_id,
            task_queue=self._settings.temporal_task_queue,
            start_signal="cart_changed",
            start_signal_args=[CartChanged(cart_version=version, item_count=count)],
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(_TENANT_ID, str(tenant_id)),
                    SearchAttributePair(_CUSTOMER_ID, str(customer_id)),
                    SearchAttributePair(_STAGE, "recovery:waiting"),
                ]
            ),
            static_summary="Abandoned-cart recovery",
            static_details=f"Cart `{cart_id}` of customer `{customer_id}`",
        )


class RecoveryActivities:
    """Activities of the AbandonedCartWorkflow.

    Args:
        sessions: database session factory.
        mailer: the SMTP sender.
        settings: recovery defaults, the ``coupon`` and ``unsubscribe`` keys, public URL.
        stores: store clients, to create codes in a connected store (``None``: native only).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        mailer: Mailer,
        settings: Settings,
        stores: StoreClients | None = None,
    ) -> None:
        """Inject clients and keys."""
        self._sessions = sessions
        self._mailer = mailer
        self._settings = settings
        self._stores = stores
        self._code_key = settings.derived_key("coupon")
        self._unsubscribe_key = settings.derived_key("unsubscribe")

    @activity.defn(name="start_cart_recovery")
    async def start_cart_recovery(self, data: StartRecoveryInput) -> RecoveryPlan:
        """Create (or restart) the cart's ``cart_recoveries`` row; the tenant's plan.

        Raises:
            ApplicationError: ``NotFound`` for an unknown tenant (not retried).
        """
        async with self._sessions() as session, session.begin():
            tenant = await session.get(Tenant, data.tenant_id)
            if tenant is None:
                raise _not_found("tenant")
            policy = tenant_policy(self._settings, tenant)
            row = await start_recovery(
                session,
                tenant=tenant,
                customer_id=data.customer_id,
                cart_id=data.cart_id,
                workflow_id=data.workflow_id,
                cart_version=data.cart_version,
                changed_at=data.changed_at,
            )
            return RecoveryPlan(enabled=policy.enabled, steps=policy.steps(), sent=sent_steps(row))

    @activity.defn(name="finish_cart_recovery")
    async def finish_cart_recovery(self, data: FinishRecoveryInput) -> RecoveryOutcome:
        """Mark the drip stopped or finished (an already ended row keeps its status)."""
        async with self._sessions() as session, session.begin():
            if data.status == "finished":
                row = await mark_finished(
                    session, tenant_id=data.tenant_id, cart_id=data.cart_id, at=data.at
                )
            else:
                row = await mark_stopped(
                    session,
                    tenant_id=data.tenant_id,
                    cart_id=data.cart_id,
                    reason=data.reason or "stopped",
                    at=data.at,
                )
            if row is None:
                return RecoveryOutcome(status="stopped", reason="cart_closed")
            return RecoveryOutcome(
                status=row.status,
                reason=row.stop_reason,
                steps_sent=sent_steps(row),
            )

    @activity.defn(name="cart_recovery_step")
    async def cart_recovery_step(self, data: StepInput) -> StepResult:
        """Decide in the database whether ``data.step`` may go out, and send it.

        Chat: the nudge is stored as an outbound message of the customer's conversation
        when WhatsApp's 24-hour window is open (the workflow delivers it). E-mail: to the
        customer's address, with the cart's lines, total, the step's discount code (created
        here, in the connected store too), the resume keyword and link, and the
        unsubscribe link; at most once per (cart, step).

        Idempotent: a step already recorded returns ``sent`` again with its messages.

        Raises:
            ApplicationError: ``MailUnavailable`` (retried).
        """
        prefix = f"recovery:{data.cart_id}:{data.step.index}"
        async with self._sessions() as session, session.begin():
            row = await get_recovery(session, data.tenant_id, data.cart_id, lock=True)
            if row is None:
                return StepResult(outcome="stop", stop_reason="cart_closed")
            if data.step.index in sent_steps(row):
                return await self._already_sent(session, row.customer_id, prefix)
            decision, cart = await decide(session, row=row, expected_version=data.cart_version)
            if decision == "changed":
                assert cart is not None
                return StepResult(outcome="changed", cart_version=cart.version)
            if decision != "ok":
                await mark_stopped(
                    session,
                    tenant_id=data.tenant_id,
                    cart_id=data.cart_id,
                    reason=decision,
                    at=data.at,
                )
                return StepResult(outcome="stop", stop_reason=decision)
            tenant = await session.get_one(Tenant, data.tenant_id)
            customer = await session.get_one(Customer, row.customer_id)
            snap = await snapshot(session, tenant, data.cart_id)
            assert snap is not None
            row.cart_version = max(row.cart_version, snap.version)
            row.item_count = snap.item_count
            row.value = snap.value
            policy = tenant_policy(self._settings, tenant)
            conversation = await _latest_conversation(session, tenant.id, customer.id)
            language = (conversation.language if conversation else None) or tenant.language
            if data.step.channel == "chat":
                if conversation is None or not window_open(conversation, data.at):
                    return StepResult(outcome="skipped")
                ids = await add_outbound_replies(
                    session,
                    conversation_id=conversation.id,
                    tenant_id=tenant.id,
                    replies=[_nudge(tenant, language, snap)],
                    key_prefix=prefix,
                )
                record_step(
                    row,
                    index=data.step.index,
                    channel="chat",
                    at=data.at,
                    coupon_code=None,
                    changed_at=data.changed_at,
                )
                return StepResult(outcome="sent", conversation=_ref(conversation), outbound_ids=ids)
            if not customer.email:
                return StepResult(outcome="skipped")
            email = customer.email
            code: str | None = None
            coupon: Coupon | None = None
            if data.step.discount_percent > 0:
                code = recovery_code(self._code_key, tenant.id, data.cart_id, data.step.index)
                coupon = await ensure_coupon(
                    session,
                    tenant_id=tenant.id,
                    code=code,
                    percent=data.step.discount_percent,
                    currency=tenant.currency,
                    expires_at=data.at + timedelta(seconds=policy.code_ttl_s),
                    cart_id=data.cart_id,
                    customer_id=customer.id,
                )
            values = self._mail_values(tenant, customer, snap, policy, data, code)
            coupon_pending = coupon is not None and coupon.external_id is None
            expires_at = coupon.expires_at if coupon is not None else None
        if coupon_pending and code is not None and expires_at is not None:
            await self._store_discount(data, code, expires_at)
        try:
            await send_once(
                self._sessions,
                self._mailer,
                tenant_id=data.tenant_id,
                key=prefix,
                to=email,
                template="cart_recovery",
                language=language,
                values=values,
                now=data.at,
                # One-click unsubscribe (RFC 8058), which mailbox providers ask of bulk senders.
                headers={
                    "List-Unsubscribe": f"<{values['unsubscribe_link']}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
        except MailNotConfigured:
            logger.warning("cart %s: no SMTP server configured, e-mail step skipped", data.cart_id)
            return StepResult(outcome="skipped")
        except MailUnavailable as err:
            raise ApplicationError(
                "the mail server is unavailable", type="MailUnavailable"
            ) from err
        async with self._sessions() as session, session.begin():
            row = await get_recovery(session, data.tenant_id, data.cart_id, lock=True)
            assert row is not None
            record_step(
                row,
                index=data.step.index,
                channel="email",
                at=data.at,
                coupon_code=code,
                changed_at=data.changed_at,
            )
        return StepResult(outcome="sent", coupon_code=code)

    async def _already_sent(
        self, session: AsyncSession, customer_id: uuid.UUID, prefix: str
    ) -> StepResult:
        conversation = await _latest_conversation(session, None, customer_id)
        if conversation is None:
            return StepResult(outcome="sent")
        stored = await session.execute(
            select(Message.id)
            .where(
                Message.conversation_id == conversation.id,
                Message.outbound_key.startswith(prefix + ":"),
            )
            .order_by(Message.outbound_key)
        )
        ids = list(stored.scalars())
        return StepResult(
            outcome="sent", conversation=_ref(conversation) if ids else None, outbound_ids=ids
        )

    async def _store_discount(self, data: StepInput, code: str, expires_at: Any) -> None:
        """Create the code in the tenant's connected store too, and keep its id.

        A store without coupons (custom backend) keeps our own code only; a code the store
        already has (a retry) is kept as it is. A store that refuses us for good (revoked
        credentials, a rejected request) also leaves our own code only: the e-mail still
        goes out and the code works in the chat; failing here would fail the whole drip.

        Raises:
            ApplicationError: the store is unavailable (retried).
        """
        if self._stores is None:
            return
        async with self._sessions() as session:
            integration = await connected_integration(session, data.tenant_id)
        if integration is None:
            return
        _, client = await self._stores.get(integration.id)
        try:
            created = await client.create_discount(
                DiscountRequest(
                    code=code,
                    percent=data.step.discount_percent,
                    expires_at=expires_at,
                    usage_limit=1,
                )
            )
            external_id: str | None = created.external_id
        except StoreNotSupported:
            return
        except StoreRejected as err:
            if "exist" not in (err.provider_code or "") and "TAKEN" not in str(err):
                logger.warning("cart %s: the store refused the discount code", data.cart_id)
            return
        except StoreError as err:
            if not err.retryable:
                logger.warning(
                    "cart %s: the store did not create the discount code (%s)",
                    data.cart_id,
                    err.code,
                )
                return
            raise ApplicationError(
                f"the store did not create the code: {err.code}", type=err.code
            ) from None
        async with self._sessions() as session, session.begin():
            coupon = (
                await session.execute(
                    select(Coupon)
                    .where(Coupon.tenant_id == data.tenant_id, Coupon.code == code)
                    .with_for_update()
                )
            ).scalar_one()
            coupon.external_id = external_id

    def _mail_values(
        self,
        tenant: Tenant,
        customer: Customer,
        snap: CartSnapshot,
        policy: RecoveryPolicy,
        data: StepInput,
        code: str | None,
    ) -> dict[str, str]:
        def money(amount: Any) -> str:
            return format_money(
                Money(amount=amount, currency=snap.currency), money_locale(tenant.locale, "en")
            )

        keyword = code or "CART"
        link = ""
        if policy.whatsapp_number:
            digits = policy.whatsapp_number.lstrip("+")
            link = f"https://wa.me/{digits}?text={urllib.parse.quote(keyword)}"
        token = unsubscribe_token(self._unsubscribe_key, tenant.id, customer.id)
        # "Last chance" names the last e-mail's discount: without a code there is none.
        last = code is not None and data.step.index == len(policy.emails) and data.step.index > 1
        return {
            "shop": tenant.name,
            "name": customer.name or "",
            "count": str(snap.item_count),
            "items": "\n".join(
                f"{quantity} × {label}: {money(total)}" for label, quantity, total in snap.lines
            ),
            "total": money(snap.value),
            "code": code or "",
            "percent": f"{data.step.discount_percent.normalize():f}",
            "expires": (data.at + timedelta(seconds=policy.code_ttl_s)).strftime("%Y-%m-%d"),
            "keyword": keyword,
            "resume_link": link,
            "unsubscribe_link": (
                f"{self._settings.tendero_public_url.rstrip('/')}/unsubscribe/{token}"
            ),
            "last_chance": "yes" if last else "",
        }


async def _latest_conversation(
    session: AsyncSession, tenant_id: uuid.UUID | None, customer_id: uuid.UUID
) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.customer_id == customer_id)
    if tenant_id is not None:
        stmt = stmt.where(Conversation.tenant_id == tenant_id)
    stmt = stmt.order_by(Conversation.last_inbound_at.desc().nulls_last()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


def _ref(conversation: Conversation) -> ConversationRef:
    return ConversationRef(
        tenant_id=conversation.tenant_id,
        customer_id=conversation.customer_id,
        conversation_id=conversation.id,
        channel=conversation.channel,
    )


def _nudge(tenant: Tenant, language: str, snap: CartSnapshot) -> Reply:
    total = format_money(
        Money(amount=snap.value, currency=snap.currency), money_locale(tenant.locale, language)
    )
    return Reply(
        kind="buttons",
        body=t(
            language,
            "recovery_nudge_one" if snap.item_count == 1 else "recovery_nudge",
            count=snap.item_count,
            total=total,
            shop=tenant.name,
        ),
        buttons=[
            Button(id="cart", title=t(language, "btn_cart")),
            Button(id="checkout", title=t(language, "btn_checkout")),
        ],
    )
