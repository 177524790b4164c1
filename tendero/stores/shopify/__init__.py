"""The Shopify connector: GraphQL Admin API client, OAuth helpers and payload mapping."""

from tendero.stores.shopify.client import (
    BULK_POLL_INTERVAL_S,
    WEBHOOK_TOPICS,
    ShopifyClient,
    idempotency_tag,
    rest_topic,
)
from tendero.stores.shopify.oauth import (
    authorize_url,
    exchange_code,
    normalize_shop_domain,
    refresh_credentials,
    timestamp_fresh,
    verify_query_hmac,
    verify_webhook_hmac,
    webhook_header,
)
from tendero.stores.shopify.payloads import (
    customer_from_webhook,
    order_from_webhook,
    product_from_webhook,
)
from tendero.stores.shopify.queries import SHOPIFY_API_VERSION

__all__ = [
    "BULK_POLL_INTERVAL_S",
    "SHOPIFY_API_VERSION",
    "WEBHOOK_TOPICS",
    "ShopifyClient",
    "authorize_url",
    "customer_from_webhook",
    "exchange_code",
    "idempotency_tag",
    "normalize_shop_domain",
    "order_from_webhook",
    "product_from_webhook",
    "refresh_credentials",
    "rest_topic",
    "timestamp_fresh",
    "verify_query_hmac",
    "verify_webhook_hmac",
    "webhook_header",
]
