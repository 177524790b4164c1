"""WooCommerce connector: REST API v3 client, payload mapping and webhook helpers."""

from tendero.stores.woocommerce.client import BatchItemError, BatchResult, WooCommerceClient

__all__ = ["BatchItemError", "BatchResult", "WooCommerceClient"]
