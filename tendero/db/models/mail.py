"""E-mails sent by Tendero, one row per send, keyed for idempotency."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class OutboundEmail(UUIDPk, Timestamped, Base):
    """One e-mail, written before it is handed to the SMTP server.

    ``key`` is the sender's idempotency key (unique per tenant): a retried activity finds
    the row and does not send again once ``status`` is ``sent``. ``message_id`` is the
    RFC 5322 ``Message-ID`` header, fixed at the first attempt so that a resend after an
    unknown outcome carries the same id. ``status``: ``sending`` -> ``sent``, or
    ``refused`` (the server refused the recipient or the message: not retried) or
    ``failed`` (retries ran out). ``body_text`` is ``None`` for mails that carry a secret
    (verification codes): those bodies are never stored.
    """

    __tablename__ = "outbound_emails"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), server_default="sending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
