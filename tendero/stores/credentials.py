"""Credentials of each store kind, as they are kept encrypted in ``integrations``.

They are serialised to JSON and encrypted with AES-256-GCM (``tendero.crypto``) before they
reach the database; the API never returns them and ``SecretStr`` keeps them out of logs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr


class _Credentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShopifyCredentials(_Credentials):
    """An offline access token from the OAuth code exchange (or a custom app's token).

    Expiring offline tokens (``expiring=1``) last ``expires_in`` seconds and come with a
    refresh token that Shopify rotates on every use (notes/store-apis.md §1.6): the pair is
    saved together after each refresh. ``expires_at`` ``None``: a non-expiring token.
    """

    kind: Literal["shopify"] = "shopify"
    access_token: SecretStr
    scope: str = ""
    expires_at: datetime | None = None
    refresh_token: SecretStr | None = None
    refresh_token_expires_at: datetime | None = None

    def expires_within(self, now: datetime, margin: timedelta) -> bool:
        """True when the access token expires before ``now + margin``."""
        return self.expires_at is not None and self.expires_at <= now + margin


class WooCommerceCredentials(_Credentials):
    """REST API keys (``ck_``/``cs_``) and the secret we chose for the store's webhooks.

    ``previous_webhook_secret`` is still accepted on deliveries during a secret rotation.
    """

    kind: Literal["woocommerce"] = "woocommerce"
    consumer_key: SecretStr
    consumer_secret: SecretStr
    webhook_secret: SecretStr
    previous_webhook_secret: SecretStr | None = None


class CustomCredentials(_Credentials):
    """The service account the custom backend logs in with for a JWT."""

    kind: Literal["custom"] = "custom"
    username: str
    password: SecretStr
    webhook_secret: SecretStr | None = None


StoreCredentials = ShopifyCredentials | WooCommerceCredentials | CustomCredentials
