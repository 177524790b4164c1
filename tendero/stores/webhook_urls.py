"""Where a store sends its webhooks, and with which secret (DESIGN.md, "Stores")."""

from __future__ import annotations

from tendero.db.models import Integration
from tendero.settings import Settings
from tendero.stores.credentials import StoreCredentials, WooCommerceCredentials


def webhook_address(settings: Settings, integration: Integration) -> str:
    """The public URL of an integration's webhooks under ``TENDERO_PUBLIC_URL``.

    Shopify posts every shop to one address and names the shop in
    ``X-Shopify-Shop-Domain``; WooCommerce deliveries carry no trustworthy store id, so each
    integration has its own path.
    """
    base = settings.tendero_public_url.rstrip("/")
    if integration.kind == "shopify":
        return f"{base}/webhooks/shopify"
    return f"{base}/webhooks/{integration.kind}/{integration.id}"


def webhook_secret(credentials: StoreCredentials) -> str:
    """The secret the store signs deliveries with, where we choose it (WooCommerce).

    Shopify signs with the app's client secret (``SHOPIFY_CLIENT_SECRET``); the custom
    backend contract has no webhooks: both get an empty string, which the connector ignores.
    """
    if isinstance(credentials, WooCommerceCredentials):
        return credentials.webhook_secret.get_secret_value()
    return ""
