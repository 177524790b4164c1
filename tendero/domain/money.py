"""Money: an exact ``Decimal`` amount with its ISO 4217 currency."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (ISO 4217 minor unit, CLDR data via babel).

    ``Decimal("0.01")`` for USD, ``Decimal("1")`` for JPY, ``Decimal("0.001")`` for KWD.
    """
    from babel.numbers import get_currency_precision

    return Decimal(1).scaleb(-int(get_currency_precision(currency)))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half up (the rule shops print on receipts)."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


class Money(BaseModel):
    """An amount of money.

    Attributes:
        amount: exact decimal amount, never a float.
        currency: ISO 4217 code, e.g. ``"USD"``.
    """

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: CurrencyCode

    def __add__(self, other: Money) -> Money:
        """Add two amounts of the same currency.

        Raises:
            ValueError: the currencies differ.
        """
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def times(self, factor: int | Decimal) -> Money:
        """Multiply by a quantity or rate (not rounded)."""
        return Money(amount=self.amount * Decimal(factor), currency=self.currency)

    def rounded(self) -> Money:
        """This amount rounded to the currency's minor unit."""
        return Money(amount=quantize(self.amount, self.currency), currency=self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``."""
        return cls(amount=Decimal("0"), currency=currency)


def format_money(money: Money, locale: str = "en") -> str:
    """Format for people in the tenant's locale, e.g. ``$1,234.50`` or ``1.234,50 €``.

    Uses babel's CLDR data; falls back to ``"1234.50 USD"`` if babel lacks the locale.
    """
    from babel.numbers import format_currency

    try:
        return str(format_currency(money.amount, money.currency, locale=locale))
    except Exception:  # babel raises several unrelated types for unknown locales
        return f"{quantize(money.amount, money.currency)} {money.currency}"


_LANGUAGE_LOCALES = {"en": "en_US", "es": "es"}


def money_locale(tenant_locale: str, language: str) -> str:
    """The locale to format a shop's prices for a reader of ``language``.

    The shop's own locale (``es_MX``, ``en_GB``...) when it is in the reader's language,
    else a default locale of that language, so a Spanish reply never shows English digits.
    """
    if tenant_locale.split("_")[0] == language:
        return tenant_locale
    return _LANGUAGE_LOCALES.get(language, tenant_locale)
