"""Webhook authenticity: ``X-Hub-Signature-256`` and the GET subscription handshake.

Source: notes/whatsapp.md section 1 ("Signature", "Verification (GET)"), from Meta's webhook
docs. Every webhook POST carries ``X-Hub-Signature-256: sha256=<hex>`` where ``hex`` is
HMAC-SHA256 keyed with the app secret over the *exact* raw request body bytes, so the check
must run before any JSON parsing or re-serialisation. The same header signs Flow endpoint
requests.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def _require_secret(app_secret: str) -> bytes:
    if not app_secret:
        # An empty key is public knowledge: anyone could forge the HMAC.
        raise ValueError("the WhatsApp app secret is empty")
    return app_secret.encode("utf-8")


def sign(raw_body: bytes, app_secret: str) -> str:
    """Compute the ``X-Hub-Signature-256`` header value Meta would send for ``raw_body``.

    Used by the CLI and tests to post webhooks exactly as Meta does.

    Args:
        raw_body: the request body bytes, exactly as they will be sent.
        app_secret: the Meta app secret (the HMAC key).

    Returns:
        ``"sha256=<64 lowercase hex chars>"``.

    Raises:
        ValueError: ``app_secret`` is empty.
    """
    digest = hmac.new(_require_secret(app_secret), raw_body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """Check a webhook's ``X-Hub-Signature-256`` header against the raw body.

    Args:
        raw_body: the request body bytes as received (``await request.body()``), never a
            re-serialised JSON document.
        header: the ``X-Hub-Signature-256`` header value, ``None`` when absent.
        app_secret: the Meta app secret.

    Returns:
        ``True`` only for a well-formed ``sha256=<64 hex>`` header whose digest matches
        (constant-time comparison); ``False`` when the header is missing, malformed or wrong.

    Raises:
        ValueError: ``app_secret`` is empty (a configuration error, not a bad request).
    """
    key = _require_secret(app_secret)
    if header is None:
        return False
    value = header.strip()
    if not value.startswith(_PREFIX):
        return False
    hex_part = value[len(_PREFIX) :]
    if _HEX_DIGEST.fullmatch(hex_part) is None:
        return False
    expected = hmac.new(key, raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, bytes.fromhex(hex_part))


def verify_subscription(
    mode: str | None, token: str | None, challenge: str | None, verify_token: str
) -> str | None:
    """Answer Meta's GET subscription handshake.

    Meta calls the callback URL with ``hub.mode=subscribe``, ``hub.verify_token`` and
    ``hub.challenge``; the endpoint must answer 200 with the challenge as plain text when the
    mode is ``subscribe`` and the token matches ours, else 403 (notes/whatsapp.md section 1).

    Args:
        mode: the ``hub.mode`` query parameter.
        token: the ``hub.verify_token`` query parameter.
        challenge: the ``hub.challenge`` query parameter.
        verify_token: our configured verify token.

    Returns:
        The challenge to echo back, or ``None`` when the request must be refused (wrong or
        missing mode/token, missing challenge, or an empty configured token).
    """
    if mode != "subscribe" or token is None or not challenge or not verify_token:
        return None
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    return challenge
