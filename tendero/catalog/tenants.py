"""Tenants (shops): creation with validation, lookup, and the idempotent demo-shop seed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.agent.presets import all_presets
from tendero.catalog.loader import load_catalog, load_demo_document
from tendero.crypto import encrypt_secret
from tendero.db.models import Tenant
from tendero.settings import Settings

__all__ = [
    "DEMO_SLUG",
    "TenantError",
    "configure_assistant",
    "create_tenant",
    "get_tenant_by_slug",
    "seed_demo_shop",
]

DEMO_SLUG = "demo"
LANGUAGES = frozenset({"en", "es"})
_SLUG = re.compile(r"^[a-z0-9-]{2,64}$")
_PAYMENT_METHOD = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
# Meta's phone_number_id is a numeric string (WhatsApp Cloud API, webhook metadata).
_PHONE_NUMBER_ID = re.compile(r"^[0-9]{1,32}$")

# ISO 4217 active codes (SIX's list, 2025), without precious metals and test codes.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()
)

DEMO_PICKUP_ADDRESS = "Tendero Demo Shop, 100 Sample Street, Springfield"


class TenantError(ValueError):
    """Invalid tenant settings or a duplicate; ``field`` names the offending argument."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        """Keep the argument name next to the message."""
        super().__init__(message)
        self.field = field


def _money(value: Decimal, *, field: str, places: int, below: Decimal | None = None) -> Decimal:
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        raise TenantError(f"{field} must be a Decimal, not {type(value).__name__}", field=field)
    amount = Decimal(value)
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or amount < 0 or (isinstance(exponent, int) and -exponent > places):
        raise TenantError(f"{field} must be >= 0 with at most {places} decimals", field=field)
    if below is not None and amount >= below:
        raise TenantError(f"{field} must be below {below}", field=field)
    return amount


async def create_tenant(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    currency: str,
    language: str = "en",
    tax_rate: Decimal = Decimal("0"),
    delivery_fee: Decimal = Decimal("0"),
    payment_methods: Sequence[str] = ("cash",),
    phone_number_id: str | None = None,
    access_token: str | None = None,
    secret_key: bytes,
    preset: str = "ecommerce",
    pickup_address: str | None = None,
    checkout_confirm_ttl_s: int | None = None,
) -> Tenant:
    """Create a shop; the caller commits.

    Args:
        session: open session; the insert runs in a savepoint, so a duplicate leaves the
            caller's transaction usable.
        slug: URL-safe id, ``^[a-z0-9-]{2,64}$``, unique.
        name: display name (1..200 characters).
        currency: ISO 4217 code, e.g. ``"USD"`` (upper-cased first).
        language: ``"en"`` or ``"es"``.
        tax_rate: fraction applied to the subtotal, ``0 <= rate < 1``, 5 decimals at most
            (``Decimal("0.0825")`` is 8.25 %).
        delivery_fee: amount in ``currency``, ``>= 0``, 3 decimals at most.
        payment_methods: codes such as ``cash``, ``card_on_delivery``, ``bank_transfer``.
        phone_number_id: the WhatsApp Cloud API phone number id (digits), unique.
        access_token: the WhatsApp access token; stored only encrypted (AES-256-GCM, bound
            to the slug as associated data).
        secret_key: the 32-byte key of ``tendero.crypto``.
        preset: the engine preset (``ecommerce``...).
        pickup_address: shown for pickup orders; ``None`` disables pickup.
        checkout_confirm_ttl_s: per-shop override of ``CHECKOUT_CONFIRM_TTL_S`` (> 0).

    Returns:
        The new, flushed tenant.

    Raises:
        TenantError: an argument is invalid, or the slug or phone number id is taken
            (``error.field`` says which).
    """
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise TenantError("slug must match ^[a-z0-9-]{2,64}$", field="slug")
    name = name.strip()
    if not name or len(name) > 200:
        raise TenantError("name must have 1 to 200 characters", field="name")
    currency = currency.strip().upper()
    if currency not in ISO_4217:
        raise TenantError(f"{currency!r} is not an ISO 4217 currency code", field="currency")
    if language not in LANGUAGES:
        raise TenantError(f"language must be one of {sorted(LANGUAGES)}", field="language")
    tax = _money(tax_rate, field="tax_rate", places=5, below=Decimal(1))
    fee = _money(delivery_fee, field="delivery_fee", places=3)
    methods = list(dict.fromkeys(payment_methods))
    if not methods or not all(_PAYMENT_METHOD.fullmatch(m) for m in methods):
        raise TenantError(
            "payment_methods must be codes such as 'cash' or 'bank_transfer'",
            field="payment_methods",
        )
    if phone_number_id is not None and not _PHONE_NUMBER_ID.fullmatch(phone_number_id):
        raise TenantError("phone_number_id must be digits", field="phone_number_id")
    if len(secret_key) != 32:
        raise TenantError("secret_key must be 32 bytes (AES-256)", field="secret_key")
    if preset not in all_presets():
        raise TenantError(f"preset must be one of {sorted(all_presets())}", field="preset")
    if pickup_address is not None and not 0 < len(pickup_address.strip()) <= 300:
        raise TenantError("pickup_address must have 1 to 300 characters", field="pickup_address")
    if checkout_confirm_ttl_s is not None and checkout_confirm_ttl_s <= 0:
        raise TenantError("checkout_confirm_ttl_s must be positive", field="checkout_confirm_ttl_s")
    token = (
        encrypt_secret(access_token, secret_key, context=slug.encode()) if access_token else None
    )
    tenant = Tenant(
        slug=slug,
        name=name,
        currency=currency,
        language=language,
        tax_rate=tax,
        delivery_fee=fee,
        payment_methods=methods,
        whatsapp_phone_number_id=phone_number_id,
        whatsapp_access_token_enc=token,
        preset=preset,
        pickup_address=pickup_address.strip() if pickup_address else None,
        checkout_confirm_ttl_s=checkout_confirm_ttl_s,
    )
    try:
        async with session.begin_nested():
            session.add(tenant)
            await session.flush()
    except IntegrityError as err:
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None) or ""
        if "phone_number_id" in constraint:
            raise TenantError(
                "this WhatsApp phone number id belongs to another shop", field="phone_number_id"
            ) from None
        if "slug" in constraint:
            raise TenantError(f"slug {slug!r} is taken", field="slug") from None
        raise
    return tenant


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    """The tenant with this slug, or ``None``."""
    return (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()


async def seed_demo_shop(session: AsyncSession, *, settings: Settings) -> Tenant:
    """Create the demo shop and its catalog, or refresh the catalog of an existing one.

    Idempotent: the ``demo`` tenant ("Tendero Demo Shop", USD, tax 8.25 %, delivery 4.99,
    cash / card on delivery / bank transfer, a pickup address, the WhatsApp number and
    token of ``settings``) is created once. On later runs its settings, orders and
    customers are left alone and only the catalog is upserted, *keeping existing stock*:
    orders placed in the last run consumed stock, and resetting it would let the demo sell
    units it already sold. New demo products still get their initial stock.

    Args:
        session: open session; the caller commits.
        settings: source of ``WHATSAPP_PHONE_NUMBER_ID``, ``WHATSAPP_ACCESS_TOKEN`` and the
            secret key.

    Returns:
        The demo tenant.

    Raises:
        TenantError: the configured phone number id already belongs to another shop.
    """
    document = load_demo_document()
    tenant = await get_tenant_by_slug(session, DEMO_SLUG)
    created = False
    if tenant is None:
        try:
            tenant = await create_tenant(
                session,
                slug=DEMO_SLUG,
                name="Tendero Demo Shop",
                currency="USD",
                language="en",
                tax_rate=Decimal("0.0825"),
                delivery_fee=Decimal("4.99"),
                payment_methods=("cash", "card_on_delivery", "bank_transfer"),
                phone_number_id=settings.whatsapp_phone_number_id,
                access_token=settings.whatsapp_access_token.get_secret_value(),
                secret_key=settings.secret_key_bytes,
                pickup_address=DEMO_PICKUP_ADDRESS,
            )
            created = True
        except TenantError as err:
            if err.field != "slug":
                raise
            # Another process seeded it between our read and our insert.
            tenant = await get_tenant_by_slug(session, DEMO_SLUG)
            if tenant is None:
                raise
    await load_catalog(session, tenant_id=tenant.id, document=document, keep_stock=not created)
    return tenant


async def configure_assistant(
    session: AsyncSession,
    tenant: Tenant,
    *,
    secret_key: bytes,
    preset: str | None = None,
    assistant_name: str | None = None,
    languages: Sequence[str] | None = None,
    locale: str | None = None,
    openai_model: str | None = None,
    openai_base_url: str | None = None,
    openai_api_key: str | None = None,
    clear_model: bool = False,
) -> Tenant:
    """Change a shop's assistant settings; arguments left ``None`` keep their value.

    Args:
        session: open session; the caller commits.
        tenant: the shop.
        secret_key: AES-256 key for the model API key (stored encrypted, never returned).
        preset: business preset (``tendero.agent.presets``).
        assistant_name: the assistant's name, instead of the preset's.
        languages: languages the shop answers in (``en``, ``es``); its own language is added.
        locale: babel locale for money, e.g. ``es_MX``.
        openai_model: model name overriding ``OPENAI_MODEL``.
        openai_base_url: OpenAI-compatible endpoint overriding ``OPENAI_BASE_URL``.
        openai_api_key: key overriding ``OPENAI_API_KEY``.
        clear_model: drop the shop's model overrides (back to the global settings).

    Raises:
        TenantError: an unknown preset, language or locale, or a base URL that is not http(s).
    """
    from babel import Locale, UnknownLocaleError

    if preset is not None:
        if preset not in all_presets():
            raise TenantError(f"preset must be one of {sorted(all_presets())}", field="preset")
        tenant.preset = preset
    if assistant_name is not None:
        tenant.assistant_name = assistant_name.strip()[:60] or None
    if languages is not None:
        unknown = set(languages) - LANGUAGES
        if unknown:
            raise TenantError(f"languages must be among {sorted(LANGUAGES)}", field="languages")
        tenant.languages = sorted({*languages, tenant.language})
    if locale is not None:
        try:
            Locale.parse(locale)
        except (ValueError, UnknownLocaleError) as err:
            raise TenantError(f"unknown locale {locale!r}", field="locale") from err
        tenant.locale = locale
    if clear_model:
        tenant.openai_model = tenant.openai_base_url = tenant.openai_api_key_enc = None
    if openai_model is not None:
        tenant.openai_model = openai_model
    if openai_base_url is not None:
        if not openai_base_url.startswith(("http://", "https://")):
            raise TenantError("openai_base_url must be an http(s) URL", field="openai_base_url")
        tenant.openai_base_url = openai_base_url
    if openai_api_key is not None:
        tenant.openai_api_key_enc = encrypt_secret(
            openai_api_key, secret_key, context=f"{tenant.slug}:openai".encode()
        )
    return tenant
