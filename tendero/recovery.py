"""Abandoned-cart recovery in the database: policy, decisions, steps, codes, opt-out.

The AbandonedCartWorkflow (``workflows/recovery.py``) only keeps time; everything it does
is decided here, in the database, right before a step goes out:

- ``RecoveryPolicy``: the tenant's schedule (a chat nudge, then at most 3 e-mails with their
  discounts), from ``Settings`` and the tenant's ``cart_recovery`` overrides, validated.
- ``decide``: may a step go out now? The cart is still open at the version the workflow
  knows and has items; the customer's marketing consent is granted; the customer bought
  nothing (in chat or in the store) since the drip began.
- ``record_step``, ``mark_stopped``, ``mark_finished``, ``attribute_order``: the
  ``cart_recoveries`` row's life.
- Coupons: ``recovery_code`` (unique per cart and step, unguessable, the same for every
  retry), ``ensure_coupon``, ``check_coupon`` (before the summary) and ``redeem_coupon``
  (once, in the order's transaction).
- Chat words (``stop``/``unsubscribe``/``baja``, ``subscribe``/``offers``), resume codes
  and the unsubscribe link's token.

Nothing here commits: callers own their transactions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.checkout.pricing import Discount
from tendero.consent import current_consent, record_consent
from tendero.db.base import utcnow
from tendero.db.models import Cart, CartRecovery, Coupon, Customer, Order, Tenant
from tendero.db.repos.carts import CartView, load_cart
from tendero.domain.money import quantize
from tendero.domain.recovery import RecoveryStep, StopReason
from tendero.settings import Settings

MAX_EMAILS = 3
CODE_PREFIX = "BACK-"
CODE_CHARS = 10  # base32 characters after the prefix: 50 bits from an HMAC
RECOVERY_CODE = re.compile(r"^\s*(BACK-[A-Z2-7]{10})\s*$", re.IGNORECASE)
OPT_OUT_WORDS = frozenset(
    {"stop", "unsubscribe", "baja", "darme de baja", "dar de baja", "no more offers"}
)
OPT_IN_WORDS = frozenset({"subscribe", "offers", "suscribir", "suscribirme", "ofertas"})
ACTIVE_STATES = ("waiting", "abandoned")
RefusedReason = Literal["used", "expired", "unknown", "other_cart"]


class RecoveryPolicyError(ValueError):
    """A tenant's ``cart_recovery`` overrides do not make a valid schedule."""


class EmailStep(BaseModel):
    """One e-mail of the drip: ``after_s`` seconds after the cart's last change."""

    model_config = ConfigDict(frozen=True)

    after_s: int = Field(gt=0)
    discount_percent: Decimal = Field(default=Decimal(0), ge=0, le=90)


class RecoveryPolicy(BaseModel):
    """A tenant's recovery schedule and discounts.

    Attributes:
        enabled: False: no drip at all for this shop.
        nudge_after_s: seconds from the cart's last change to the chat nudge.
        emails: at most 3 e-mails, each later than the nudge and than the one before.
        code_ttl_s: how long a discount code stays valid after it is created.
        whatsapp_number: the shop's WhatsApp number in E.164 digits (for ``wa.me`` links in
            e-mails); ``None``: the e-mail names the keyword only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    nudge_after_s: int = Field(default=300, gt=0)
    emails: tuple[EmailStep, ...] = ()
    code_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)
    whatsapp_number: str | None = Field(default=None, pattern=r"^\+?[1-9]\d{6,14}$")

    @model_validator(mode="after")
    def _increasing(self) -> RecoveryPolicy:
        if len(self.emails) > MAX_EMAILS:
            raise ValueError(f"at most {MAX_EMAILS} e-mails")
        previous = self.nudge_after_s
        for email in self.emails:
            if email.after_s <= previous:
                raise ValueError("each e-mail must come after the nudge and the e-mail before")
            previous = email.after_s
        return self

    @classmethod
    def defaults(cls, settings: Settings) -> RecoveryPolicy:
        """The install's schedule (``CART_RECOVERY_*``).

        Raises:
            RecoveryPolicyError: the settings do not make a valid schedule.
        """
        return cls.build(settings, {})

    @classmethod
    def build(cls, settings: Settings, overrides: dict[str, Any] | None) -> RecoveryPolicy:
        """The schedule of a tenant: the settings, with the tenant's overrides on top.

        ``overrides`` keys: ``enabled``, ``nudge_after_s``, ``email_after_s`` (list of
        seconds), ``discount_percents`` (list, one per e-mail), ``code_ttl_s``,
        ``whatsapp_number``. Missing keys take the settings' values; when only
        ``email_after_s`` is given, missing percents are 0.

        Raises:
            RecoveryPolicyError: unknown key, or the result is not a valid schedule.
        """
        values = dict(overrides or {})
        known = {
            "enabled",
            "nudge_after_s",
            "email_after_s",
            "discount_percents",
            "code_ttl_s",
            "whatsapp_number",
        }
        unknown = set(values) - known
        if unknown:
            raise RecoveryPolicyError(f"unknown cart_recovery settings: {sorted(unknown)}")
        try:
            after = [int(v) for v in values.get("email_after_s", _ints(settings, "after"))]
            percents = [
                Decimal(str(v))
                for v in values.get("discount_percents", _ints(settings, "percents"))
            ]
        except (TypeError, ValueError, ArithmeticError) as err:
            raise RecoveryPolicyError(f"invalid e-mail schedule: {err}") from None
        if len(percents) > len(after):
            raise RecoveryPolicyError("more discount percents than e-mails")
        percents += [Decimal(0)] * (len(after) - len(percents))
        try:
            return cls(
                enabled=values.get("enabled", settings.cart_recovery_enabled),
                nudge_after_s=values.get("nudge_after_s", settings.cart_recovery_nudge_after_s),
                emails=tuple(
                    EmailStep(after_s=a, discount_percent=p)
                    for a, p in zip(after, percents, strict=True)
                ),
                code_ttl_s=values.get("code_ttl_s", settings.cart_recovery_code_ttl_s),
                whatsapp_number=values.get("whatsapp_number"),
            )
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'schedule'}: {e['msg']}"
                for e in err.errors()
            )
            raise RecoveryPolicyError(problems) from None

    def steps(self) -> list[RecoveryStep]:
        """The nudge (index 0) and the e-mails (1..3), in the order they go out."""
        return [
            RecoveryStep(index=0, channel="chat", after_s=self.nudge_after_s),
            *(
                RecoveryStep(
                    index=i, channel="email", after_s=e.after_s, discount_percent=e.discount_percent
                )
                for i, e in enumerate(self.emails, start=1)
            ),
        ]

    def overrides(self) -> dict[str, Any]:
        """This policy as ``tenants.cart_recovery`` JSON (every key explicit)."""
        return {
            "enabled": self.enabled,
            "nudge_after_s": self.nudge_after_s,
            "email_after_s": [e.after_s for e in self.emails],
            "discount_percents": [str(e.discount_percent) for e in self.emails],
            "code_ttl_s": self.code_ttl_s,
            "whatsapp_number": self.whatsapp_number,
        }


def _ints(settings: Settings, which: Literal["after", "percents"]) -> list[str]:
    raw = (
        settings.cart_recovery_email_after_s
        if which == "after"
        else settings.cart_recovery_discount_percents
    )
    return [part.strip() for part in raw.split(",") if part.strip()]


def tenant_policy(settings: Settings, tenant: Tenant) -> RecoveryPolicy:
    """The tenant's policy; invalid stored overrides fall back to the install's defaults.

    Raises:
        RecoveryPolicyError: the install's own settings are invalid.
    """
    try:
        return RecoveryPolicy.build(settings, tenant.cart_recovery)
    except RecoveryPolicyError:
        return RecoveryPolicy.defaults(settings)


# -- cart snapshot ---------------------------------------------------------------------------


class CartSnapshot(BaseModel):
    """The cart as the drip shows it: lines, unit count and server-priced value."""

    cart_id: uuid.UUID
    version: int
    status: str
    customer_id: uuid.UUID
    lines: list[tuple[str, int, Decimal]]
    item_count: int
    value: Decimal
    currency: str
    discount_code: str | None = None


async def snapshot(
    session: AsyncSession, tenant: Tenant, cart_id: uuid.UUID
) -> CartSnapshot | None:
    """The tenant's cart priced like the checkout prices it (current prices, rounded).

    Returns:
        ``None`` when the cart is not this tenant's.
    """
    cart = await session.get(Cart, cart_id)
    if cart is None or cart.tenant_id != tenant.id:
        return None
    view: CartView | None = await load_cart(session, tenant_id=tenant.id, cart_id=cart_id)
    assert view is not None
    return CartSnapshot(
        cart_id=cart.id,
        version=cart.version,
        status=cart.status,
        customer_id=cart.customer_id,
        lines=[
            (
                line.product_name + (f" ({line.label})" if line.label else ""),
                line.quantity,
                quantize(line.line_total, tenant.currency),
            )
            for line in view.lines
        ],
        item_count=view.item_count,
        value=quantize(view.subtotal, tenant.currency),
        currency=tenant.currency,
        discount_code=cart.discount_code,
    )


# -- the cart_recoveries row -----------------------------------------------------------------


async def get_recovery(
    session: AsyncSession, tenant_id: uuid.UUID, cart_id: uuid.UUID, *, lock: bool = False
) -> CartRecovery | None:
    """The recovery row of a tenant's cart, optionally locked for update."""
    stmt = select(CartRecovery).where(
        CartRecovery.tenant_id == tenant_id, CartRecovery.cart_id == cart_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def start_recovery(
    session: AsyncSession,
    *,
    tenant: Tenant,
    customer_id: uuid.UUID,
    cart_id: uuid.UUID,
    workflow_id: str,
    cart_version: int,
    changed_at: datetime,
) -> CartRecovery:
    """Create the cart's row, or bring a stopped one back to ``waiting`` (a new run).

    A row that already recovered an order keeps its status. Steps already sent stay
    recorded: each step goes out at most once per cart.
    """
    snap = await snapshot(session, tenant, cart_id)
    value = snap.value if snap else Decimal(0)
    count = snap.item_count if snap else 0
    await session.execute(
        insert(CartRecovery)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            cart_id=cart_id,
            customer_id=customer_id,
            workflow_id=workflow_id,
            status="waiting",
            cart_version=cart_version,
            item_count=count,
            value=value,
            currency=tenant.currency,
            last_activity_at=changed_at,
            steps=[],
        )
        .on_conflict_do_nothing(index_elements=["cart_id"])
    )
    row = await get_recovery(session, tenant.id, cart_id, lock=True)
    assert row is not None
    if row.status == "stopped":
        # A new drip of the same cart: "bought in between" counts from now on.
        row.status = "abandoned" if row.steps else "waiting"
        row.stop_reason = None
        row.finished_at = None
        row.created_at = utcnow()
    if cart_version >= row.cart_version:
        row.cart_version = cart_version
        row.item_count = count
        row.value = value
        row.last_activity_at = changed_at
    return row


Decision = Literal["ok", "changed"] | StopReason


async def decide(
    session: AsyncSession,
    *,
    row: CartRecovery,
    expected_version: int,
) -> tuple[Decision, Cart | None]:
    """May a step of ``row``'s drip go out now?

    Returns:
        ``("ok", cart)``; ``("changed", cart)`` when the cart moved past
        ``expected_version`` (the workflow missed a signal and restarts its clock); or a
        stop reason: ``checked_out`` / ``cart_closed`` (the cart is no longer open),
        ``emptied``, ``opted_out`` (latest marketing consent withdrawn), ``no_consent``
        (never given), ``bought_elsewhere`` (an order of this customer, from any source,
        since the drip began).
    """
    cart = await session.get(Cart, row.cart_id)
    if cart is None or cart.tenant_id != row.tenant_id:
        return "cart_closed", None
    if cart.status == "checked_out":
        return "checked_out", cart
    if cart.status != "open":
        return "cart_closed", cart
    if cart.version > expected_version:
        return "changed", cart
    view = await load_cart(session, tenant_id=row.tenant_id, cart_id=cart.id)
    if view is None or not view.lines:
        return "emptied", cart
    consent = await current_consent(session, tenant_id=row.tenant_id, customer_id=row.customer_id)
    if consent is None:
        return "no_consent", cart
    if not consent.granted:
        return "opted_out", cart
    bought = await session.scalar(
        select(
            exists().where(
                Order.tenant_id == row.tenant_id,
                Order.customer_id == row.customer_id,
                Order.created_at >= row.created_at,
                or_(Order.cart_id.is_(None), Order.cart_id != row.cart_id),
            )
        )
    )
    if bought:
        return "bought_elsewhere", cart
    return "ok", cart


def record_step(
    row: CartRecovery,
    *,
    index: int,
    channel: str,
    at: datetime,
    coupon_code: str | None,
    changed_at: datetime,
) -> None:
    """Add one sent step to the row (idempotent per index) and mark the cart abandoned."""
    if any(step.get("step") == index for step in row.steps):
        return
    row.steps = [
        *row.steps,
        {"step": index, "channel": channel, "at": at.isoformat(), "coupon_code": coupon_code},
    ]
    row.last_activity_at = changed_at
    if row.status == "waiting":
        row.status = "abandoned"
    if row.abandoned_at is None:
        row.abandoned_at = at


def sent_steps(row: CartRecovery) -> list[int]:
    """Indexes of the steps already sent for this cart."""
    return sorted(int(step["step"]) for step in row.steps)


async def mark_stopped(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    cart_id: uuid.UUID,
    reason: str,
    at: datetime,
) -> CartRecovery | None:
    """Stop an active drip (``waiting``/``abandoned``); an ended one is left as it is."""
    row = await get_recovery(session, tenant_id, cart_id, lock=True)
    if row is not None and row.status in ACTIVE_STATES:
        row.status = "stopped"
        row.stop_reason = reason[:32]
        row.finished_at = at
    return row


async def mark_finished(
    session: AsyncSession, *, tenant_id: uuid.UUID, cart_id: uuid.UUID, at: datetime
) -> CartRecovery | None:
    """Every step went out and nothing was bought: ``finished`` (an ended row is kept)."""
    row = await get_recovery(session, tenant_id, cart_id, lock=True)
    if row is not None and row.status in ACTIVE_STATES:
        row.status = "finished"
        row.finished_at = at
    return row


async def attribute_order(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    cart_id: uuid.UUID,
    order_id: uuid.UUID,
    at: datetime,
) -> CartRecovery | None:
    """An order was placed from the cart: credit the drip if a step had gone out.

    With at least one step sent (and not already credited), the row becomes ``recovered``
    with ``recovered_order_id``; a drip that had sent nothing stops (``checked_out``).
    Idempotent.
    """
    row = await get_recovery(session, tenant_id, cart_id, lock=True)
    if row is None or row.status == "recovered":
        return row
    if row.steps and row.status in (*ACTIVE_STATES, "finished", "stopped"):
        row.status = "recovered"
        row.stop_reason = None
        row.recovered_order_id = order_id
        row.finished_at = at
    elif row.status in ACTIVE_STATES:
        row.status = "stopped"
        row.stop_reason = "checked_out"
        row.finished_at = at
    return row


# -- discount codes --------------------------------------------------------------------------


def recovery_code(key: bytes, tenant_id: uuid.UUID, cart_id: uuid.UUID, step: int) -> str:
    """The code of one cart's step: ``BACK-`` + 10 base32 characters of an HMAC.

    Unguessable without the install's key, unique per (tenant, cart, step), and the same
    for every retry of the activity that creates it (so a retry never makes two codes).
    """
    digest = hmac.new(key, f"{tenant_id}:{cart_id}:{step}".encode(), hashlib.sha256).digest()
    return CODE_PREFIX + base64.b32encode(digest).decode()[:CODE_CHARS]


async def ensure_coupon(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    code: str,
    percent: Decimal,
    currency: str,
    expires_at: datetime,
    cart_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    external_id: str | None = None,
) -> Coupon:
    """The coupon ``code`` of the tenant, created single-use if missing (idempotent).

    Raises:
        ValueError: ``expires_at`` is naive.
    """
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    await session.execute(
        insert(Coupon)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            code=code,
            kind="percent",
            value=percent,
            currency=currency,
            expires_at=expires_at,
            usage_limit=1,
            times_used=0,
            source="recovery",
            cart_id=cart_id,
            customer_id=customer_id,
            external_id=external_id,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "code"])
    )
    coupon = (
        await session.execute(
            select(Coupon).where(Coupon.tenant_id == tenant_id, Coupon.code == code)
        )
    ).scalar_one()
    if external_id is not None and coupon.external_id is None:
        coupon.external_id = external_id
    return coupon


async def find_coupon(session: AsyncSession, tenant_id: uuid.UUID, code: str) -> Coupon | None:
    """The tenant's coupon with this code (codes compare upper-cased)."""
    return (
        await session.execute(
            select(Coupon).where(Coupon.tenant_id == tenant_id, Coupon.code == code.upper())
        )
    ).scalar_one_or_none()


async def check_coupon(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    code: str,
    cart_id: uuid.UUID,
    now: datetime,
) -> Discount | RefusedReason:
    """Is ``code`` usable on this cart now?

    Returns:
        The discount to apply, or why not: ``unknown`` (no such code in this shop),
        ``used`` (its uses are spent), ``expired``, ``other_cart`` (made for another cart).
    """
    coupon = await find_coupon(session, tenant_id, code)
    if coupon is None:
        return "unknown"
    if coupon.cart_id is not None and coupon.cart_id != cart_id:
        return "other_cart"
    if coupon.times_used >= coupon.usage_limit:
        return "used"
    if coupon.expires_at <= now:
        return "expired"
    kind: Literal["percent", "amount"] = "amount" if coupon.kind == "amount" else "percent"
    return Discount(code=coupon.code, kind=kind, value=coupon.value)


async def redeem_coupon(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    code: str,
    cart_id: uuid.UUID,
    order_id: uuid.UUID,
    now: datetime,
) -> bool:
    """Use the coupon once, atomically: True when it was still valid and is now used.

    One conditional ``UPDATE`` (uses left, not expired, this cart or none), so two orders
    can never both redeem a single-use code.
    """
    redeemed = await session.execute(
        update(Coupon)
        .where(
            Coupon.tenant_id == tenant_id,
            Coupon.code == code.upper(),
            Coupon.times_used < Coupon.usage_limit,
            Coupon.expires_at > now,
            or_(Coupon.cart_id.is_(None), Coupon.cart_id == cart_id),
        )
        .values(times_used=Coupon.times_used + 1, redeemed_at=now, redeemed_order_id=order_id)
        .returning(Coupon.id)
    )
    return redeemed.scalar_one_or_none() is not None


# -- opt-out, resume, unsubscribe ------------------------------------------------------------


def chat_intent(raw: str) -> Literal["opt_out", "opt_in", "resume"] | None:
    """What a typed message means to the drip: a stop word, an opt-in word, a resume code."""
    lowered = " ".join(raw.lower().strip().strip(".!¡¿?").split())
    if lowered in OPT_OUT_WORDS:
        return "opt_out"
    if lowered in OPT_IN_WORDS:
        return "opt_in"
    if RECOVERY_CODE.match(raw):
        return "resume"
    return None


async def apply_code_to_open_cart(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    code: str,
    now: datetime,
) -> RefusedReason | Literal["applied", "no_cart"]:
    """Put a typed recovery code on the customer's open cart (checked again at checkout)."""
    cart = (
        await session.execute(
            select(Cart)
            .where(
                Cart.tenant_id == tenant_id,
                Cart.customer_id == customer_id,
                Cart.status == "open",
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if cart is None:
        return "no_cart"
    checked = await check_coupon(session, tenant_id=tenant_id, code=code, cart_id=cart.id, now=now)
    if not isinstance(checked, Discount):
        return checked
    # Not a cart change: the version (and so a shown summary) stays as it is.
    cart.discount_code = checked.code
    return "applied"


async def answer_chat(engine: Any, raw: str) -> bool:
    """Answer a stop word, an opt-in word or a resume code typed in the guided chat.

    ``stop``/``unsubscribe``/``baja`` record a withdrawn marketing consent (source
    ``chat``); ``subscribe``/``offers`` a granted one; a ``BACK-...`` code is put on the
    open cart, which is shown. The turn's trigger signals the cart's drip after the commit.

    Args:
        engine: the turn's ``tendero.agent.guided.GuidedEngine`` (its context, decision,
            texts and cart view are used as they are).
        raw: the typed text.

    Returns:
        False when the text is none of these (nothing was done).
    """
    intent = chat_intent(raw)
    if intent is None:
        return False
    ctx = engine.ctx
    say = engine._text
    if intent == "resume":
        code = raw.strip().upper()
        outcome = await apply_code_to_open_cart(
            ctx.session,
            tenant_id=ctx.tenant.id,
            customer_id=ctx.customer.id,
            code=code,
            now=ctx.message.created_at,
        )
        say(f"recovery_code_{outcome}", code=code)
        if outcome == "applied":
            await engine._show_cart()
        return True
    granted = intent == "opt_in"
    await record_consent(
        ctx.session,
        tenant_id=ctx.tenant.id,
        customer_id=ctx.customer.id,
        granted=granted,
        source="chat",
        recorded_at=ctx.message.created_at,
    )
    say("recovery_opted_in" if granted else "recovery_opted_out", shop=ctx.tenant.name)
    return True


def unsubscribe_token(key: bytes, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> str:
    """A URL-safe token naming one customer of one shop, signed with ``key``."""
    body = tenant_id.bytes + customer_id.bytes
    mac = hmac.new(key, b"unsubscribe:" + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def parse_unsubscribe_token(key: bytes, token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The (tenant, customer) of a token made by ``unsubscribe_token``; ``None`` if forged."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != 48:
        return None
    body, mac = raw[:32], raw[32:]
    expected = hmac.new(key, b"unsubscribe:" + body, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        return None
    return uuid.UUID(bytes=body[:16]), uuid.UUID(bytes=body[16:])


def mask_phone(phone: str | None) -> str | None:
    """``+14155550123`` -> ``+1*******23`` (for lists; never the whole number)."""
    if not phone:
        return None
    return phone[:2] + "*" * max(len(phone) - 4, 3) + phone[-2:]


# -- the abandoned-cart list -----------------------------------------------------------------


@dataclass(frozen=True)
class AbandonedRow:
    """One cart of the list (see ``list_abandoned``)."""

    recovery: CartRecovery
    customer: Customer
    order_number: str | None


async def list_abandoned(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    now: datetime,
    min_hours: float | None = None,
    min_value: Decimal | None = None,
    include_guests: bool = True,
    statuses: list[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[AbandonedRow]]:
    """The tenant's recovery rows, longest abandoned first.

    Args:
        session: an open session.
        tenant_id: only this shop's carts.
        now: the time "hours abandoned" is measured to (aware UTC).
        min_hours: only carts whose last change is at least this many hours old.
        min_value: only carts worth at least this much (in the shop's currency).
        include_guests: False leaves out guests (no e-mail and no store account).
        statuses: only these recovery states (default: every state).
        limit: page size.
        offset: rows to skip.

    Returns:
        The total matching and one page of rows.
    """
    conditions: list[Any] = [CartRecovery.tenant_id == tenant_id]
    if min_hours is not None:
        conditions.append(CartRecovery.last_activity_at <= now - timedelta(hours=min_hours))
    if min_value is not None:
        conditions.append(CartRecovery.value >= min_value)
    if not include_guests:
        conditions.append(or_(Customer.email.is_not(None), Customer.external_id.is_not(None)))
    if statuses:
        conditions.append(CartRecovery.status.in_(statuses))
    base = (
        select(CartRecovery, Customer, Order.number)
        .join(
            Customer,
            and_(Customer.id == CartRecovery.customer_id, Customer.tenant_id == tenant_id),
        )
        .outerjoin(
            Order,
            and_(Order.id == CartRecovery.recovered_order_id, Order.tenant_id == tenant_id),
        )
        .where(*conditions)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.execute(
        base.order_by(CartRecovery.last_activity_at, CartRecovery.id).limit(limit).offset(offset)
    )
    return int(total or 0), [AbandonedRow(r, c, n) for r, c, n in rows.all()]
