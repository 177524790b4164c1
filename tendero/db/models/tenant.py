"""Tenants: the shops of one install, each isolated from the others."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, Integer, LargeBinary, Numeric, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Currency, MoneyAmount, Timestamped, UUIDPk


class Tenant(UUIDPk, Timestamped, Base):
    """A shop.

    ``whatsapp_access_token_enc`` is AES-256-GCM ciphertext (``tendero.crypto``); the plain
    token is never stored. ``tax_rate`` is a fraction (0.0825 = 8.25 %), applied to the
    subtotal. ``checkout_confirm_ttl_s`` overrides ``CHECKOUT_CONFIRM_TTL_S`` when set.
    ``ticket_sla`` overrides the default SLA per priority
    (``{"high": {"first_response_s": 3600, "resolution_s": 86400}}``, see
    ``tendero.support.sla``); ``ticket_auto_close_days`` closes a resolved ticket after that
    many days without a customer message.
    """

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    preset: Mapped[str] = mapped_column(String(32), server_default="ecommerce")
    language: Mapped[str] = mapped_column(String(8), server_default="en")
    currency: Mapped[Currency]
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 5), server_default="0")
    delivery_fee: Mapped[MoneyAmount] = mapped_column(server_default="0")
    payment_methods: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), server_default=text("ARRAY['cash']::varchar[]")
    )
    pickup_address: Mapped[str | None] = mapped_column(String(300))
    order_prefix: Mapped[str] = mapped_column(String(8), server_default="ORD")
    checkout_confirm_ttl_s: Mapped[int | None] = mapped_column(Integer)
    languages: Mapped[list[str]] = mapped_column(
        ARRAY(String(8)), server_default=text("ARRAY['en','es']::varchar[]")
    )
    locale: Mapped[str] = mapped_column(String(16), server_default="en_US")
    assistant_name: Mapped[str | None] = mapped_column(String(60))
    ticket_prefix: Mapped[str] = mapped_column(String(8), server_default="TCK")
    openai_model: Mapped[str | None] = mapped_column(String(100))
    openai_base_url: Mapped[str | None] = mapped_column(String(300))
    openai_api_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    whatsapp_phone_number_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    whatsapp_access_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    ticket_sla: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    ticket_auto_close_days: Mapped[int] = mapped_column(Integer, server_default="7")
    # Overrides of the cart-recovery schedule and discounts (tendero.recovery.RecoveryPolicy).
    cart_recovery: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # Conversations and transcripts older than this are deleted by the retention schedule.
    retention_days: Mapped[int] = mapped_column(Integer, server_default="30")
