"""Build the ``StoreClient`` of an integration, one per worker process and integration.

Clients are cached so that one store gets one concurrency limit and one Shopify cost
estimate per process, however many activities use it at once; a client is rebuilt when
the integration's credentials change (a reconnect, a key rotation).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.models import Integration
from tendero.errors import StoreNotSupported
from tendero.settings import Settings
from tendero.stores.base import StoreClient
from tendero.stores.credentials import (
    CustomCredentials,
    ShopifyCredentials,
    StoreCredentials,
    WooCommerceCredentials,
)
from tendero.stores.custom import CustomBackendClient
from tendero.stores.integrations import get_integration, open_credentials, save_credentials
from tendero.stores.records import Resource
from tendero.stores.shopify import ShopifyClient
from tendero.stores.woocommerce import WooCommerceClient

_CLASSES: dict[str, type[ShopifyClient] | type[WooCommerceClient] | type[CustomBackendClient]] = {
    "shopify": ShopifyClient,
    "woocommerce": WooCommerceClient,
    "custom": CustomBackendClient,
}


def supported_resources(kind: str) -> tuple[Resource, ...]:
    """The resources a kind of store can list.

    Raises:
        StoreNotSupported: unknown kind.
    """
    cls = _CLASSES.get(kind)
    if cls is None:
        raise StoreNotSupported(f"unknown store kind {kind!r}")
    return cls.resources


def shopify_base_url(settings: Settings, shop_domain: str) -> str:
    """The Admin API origin of a shop (``SHOPIFY_BASE_URL_TEMPLATE``, ``https://{shop}``)."""
    return settings.shopify_base_url_template.format(shop=shop_domain).rstrip("/")


def build_client(
    integration: Integration,
    credentials: StoreCredentials,
    *,
    http: httpx.AsyncClient,
    settings: Settings,
    on_credentials: Callable[[ShopifyCredentials], Awaitable[None]] | None = None,
) -> StoreClient:
    """A client for ``integration`` with its decrypted ``credentials``.

    Raises:
        StoreNotSupported: the kind and the credentials do not match.
    """
    limit = settings.store_max_concurrency
    if integration.kind == "shopify" and isinstance(credentials, ShopifyCredentials):
        assert integration.shop_domain is not None
        secret = settings.shopify_client_secret
        return ShopifyClient(
            http,
            shop_domain=integration.shop_domain,
            credentials=credentials,
            base_url=shopify_base_url(settings, integration.shop_domain),
            client_id=settings.shopify_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            on_credentials=on_credentials,
            max_concurrency=limit,
        )
    if integration.kind == "woocommerce" and isinstance(credentials, WooCommerceCredentials):
        assert integration.base_url is not None
        return WooCommerceClient(
            http, base_url=integration.base_url, credentials=credentials, max_concurrency=limit
        )
    if integration.kind == "custom" and isinstance(credentials, CustomCredentials):
        assert integration.base_url is not None
        return CustomBackendClient(
            http, base_url=integration.base_url, credentials=credentials, max_concurrency=limit
        )
    raise StoreNotSupported(f"credentials do not match a {integration.kind} store")


class StoreClients:
    """The worker's store clients, built on demand from the integrations table.

    Args:
        sessions: database session factory.
        http: the shared HTTP client (timeouts, connection pool).
        settings: keyring, Shopify app credentials, concurrency limit.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
        settings: Settings,
    ) -> None:
        """Start with no clients."""
        self._sessions = sessions
        self._http = http
        self._settings = settings
        self._cache: dict[uuid.UUID, tuple[bytes, StoreClient]] = {}

    async def get(self, integration_id: uuid.UUID) -> tuple[Integration, StoreClient]:
        """The integration row and its client.

        Raises:
            NotFoundError: no such integration.
            IntegrationUnavailable: it is disconnected or has no credentials.
        """
        async with self._sessions() as session:
            integration = await get_integration(session, integration_id)
            credentials = open_credentials(self._settings.keyring, integration)
        assert integration.credentials_enc is not None
        fingerprint = hashlib.sha256(integration.credentials_enc).digest()
        cached = self._cache.get(integration_id)
        if cached is not None and cached[0] == fingerprint:
            return integration, cached[1]
        client = build_client(
            integration,
            credentials,
            http=self._http,
            settings=self._settings,
            on_credentials=self._saver(integration_id),
        )
        self._cache[integration_id] = (fingerprint, client)
        return integration, client

    def _saver(self, integration_id: uuid.UUID) -> Callable[[ShopifyCredentials], Awaitable[None]]:
        async def save(credentials: ShopifyCredentials) -> None:
            # Shopify rotates the refresh token on every use: the new pair is committed
            # before the client uses it, or a crash would leave us with a dead token.
            async with self._sessions() as session, session.begin():
                await save_credentials(session, self._settings.keyring, integration_id, credentials)
            cached = self._cache.pop(integration_id, None)
            if cached is not None:
                # The same client keeps serving; only the fingerprint is stale.
                async with self._sessions() as session:
                    row = await get_integration(session, integration_id)
                if row.credentials_enc is not None:
                    fingerprint = hashlib.sha256(row.credentials_enc).digest()
                    self._cache[integration_id] = (fingerprint, cached[1])

        return save
