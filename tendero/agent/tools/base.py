"""What every tool works with: the turn's context, its result, and the error it can raise.

A tool runs as the conversation's customer in the conversation's tenant and business type;
nothing in its arguments can change who that is. A ``ToolFailure`` is not a crash: its
code and message go back to the model as the tool's result, so it can correct itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tendero.agent.presets import Preset
from tendero.db.models import Conversation, Customer, Message, Tenant
from tendero.domain.checkout import CheckoutStatus
from tendero.domain.conversation import Command
from tendero.domain.money import Money, format_money, money_locale


class ToolFailure(Exception):
    """A tool could not do what was asked; the model is told ``code`` and ``message``."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        """Keep a stable code, a message written for the model, and optional details."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def as_result(self) -> dict[str, Any]:
        """The JSON the model receives."""
        return {"error": self.code, "message": self.message, **self.details}


@dataclass
class ToolContext:
    """One tool call's world: ORM rows loaded in the tool activity's transaction."""

    session: AsyncSession
    tenant: Tenant
    customer: Customer
    conversation: Conversation
    message: Message
    preset: Preset
    language: str
    checkout: CheckoutStatus | None
    now: datetime

    def money(self, amount: Decimal) -> str:
        """``amount`` in the shop's currency, formatted for the reader's language."""
        locale = money_locale(self.tenant.locale, self.language)
        return format_money(Money(amount=amount, currency=self.tenant.currency), locale)

    def price(self, amount: Decimal) -> dict[str, str]:
        """A price for the model: formatted text plus the exact amount and currency."""
        return {"text": self.money(amount), "amount": str(amount), "currency": self.tenant.currency}


@dataclass
class ToolResult:
    """A tool's answer: JSON for the model, and what the workflow must do afterwards."""

    content: dict[str, Any]
    ok: bool = True
    commands: list[Command] = field(default_factory=list)
