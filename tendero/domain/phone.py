"""Phone numbers as E.164 strings (``+15551234567``), validated with ``phonenumbers``."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str) -> str | None:
    """Normalise a WhatsApp ``wa_id`` (digits with country code) or a typed number.

    Returns:
        ``+<digits>`` for a possible number, else ``None``.
    """
    text = raw.strip()
    if not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
