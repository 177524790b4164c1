"""Pure helpers for WooCommerce webhook deliveries (notes/store-apis.md §2 "Webhooks").

- A ping (sent when a webhook is created or activated) is the form body ``webhook_id=N`` with
  no signature: answer it 200 without checking HMAC (WooCommerce counts anything but 200 as a
  failed delivery).
- ``X-WC-Webhook-Signature`` is ``base64(HMAC-SHA256(secret, raw body))``; during a secret
  rotation both the old and the new secret are accepted.
- Deliveries run in the background and can repeat or arrive out of order, and the delivery id
  is not a stable event key: dedupe on ``(resource id, date_modified_gmt)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tendero.stores.woocommerce.payloads import gmt_datetime

_PING = re.compile(rb"webhook_id=(\d+)")

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
WEBHOOK_ID_HEADER = "X-WC-Webhook-ID"


def is_ping(raw_body: bytes) -> int | None:
    r"""The webhook id of a ping body (``^webhook_id=\d+$``), else ``None``."""
    match = _PING.fullmatch(raw_body.strip())
    return int(match.group(1)) if match else None


def sign(raw_body: bytes, secret: str) -> str:
    """The ``X-WC-Webhook-Signature`` value WooCommerce computes for ``raw_body``."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(raw_body: bytes, header_value: str | None, secrets: Sequence[str]) -> bool:
    """True when ``header_value`` is the signature of ``raw_body`` under any of ``secrets``.

    Args:
        raw_body: the request body exactly as received (never re-serialised JSON).
        header_value: the ``X-WC-Webhook-Signature`` header, ``None`` when missing.
        secrets: the accepted secrets (old and new while rotating); empty ones are skipped.

    Returns:
        Whether the signature matches; comparisons are constant-time.
    """
    if not header_value:
        return False
    try:
        given = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
        # No early return: every secret is checked, so timing does not tell which one matched.
        matched |= hmac.compare_digest(expected, given)
    return matched


def dedupe_key(body: Mapping[str, Any]) -> str:
    """``"{id}:{date_modified_gmt}"`` of a delivery body.

    A ``deleted`` body is only ``{"id": N}``, whose key is ``"N:"``: repeated deletions of
    the same record dedupe together.

    Raises:
        ValueError: the body has no ``id``.
    """
    if "id" not in body:
        raise ValueError("webhook body has no id")
    return f"{body['id']}:{body.get('date_modified_gmt') or ''}"


def modified_at(body: Mapping[str, Any]) -> datetime | None:
    """Aware UTC ``date_modified_gmt`` of a delivery body, ``None`` when absent (deletions)."""
    value = body.get("date_modified_gmt")
    return gmt_datetime(value) if isinstance(value, str) else None
