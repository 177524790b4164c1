"""The custom REST backend connector (the contract: docs/custom-backend.md)."""

from tendero.stores.custom.client import MAX_PAGE_SIZE, CustomBackendClient
from tendero.stores.custom.payloads import CustomerProfile, DeliveryOption, PaymentMethod

__all__ = [
    "MAX_PAGE_SIZE",
    "CustomBackendClient",
    "CustomerProfile",
    "DeliveryOption",
    "PaymentMethod",
]
