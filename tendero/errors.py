"""Tendero's error tree. Every error we raise has a stable ``code`` and a ``retryable`` flag.

```
AppError
├── CheckoutError
│   ├── CartChangedError      the cart is not the one the summary was computed for
│   ├── EmptyCartError        nothing to check out
│   ├── OutOfStockError       a line cannot be fulfilled (names in ``unavailable``)
│   └── PriceChangedError     a price moved since the summary
├── ModelError                the language model could not answer
│   ├── ModelUnavailable      429, 5xx, timeout, connection: worth retrying
│   └── ModelRejected         401/403/400/404/422: a configuration or request problem
├── NotFoundError             an id that does not exist in this tenant (or belongs to another)
└── StoreError                a connected store (Shopify, WooCommerce, custom) refused or failed
    ├── StoreUnavailable      5xx, timeouts, connection errors: worth retrying
    │   └── StoreThrottled    rate limited (429, Shopify THROTTLED) after our own waiting
    ├── StoreAuthError        401/403, revoked or expired credentials: reconnect the store
    ├── StoreRejected         the store refused the request (400/404/409/422, per-item errors)
    └── StoreNotSupported     this kind of store has no such feature
```
Activities convert them into ``ApplicationError(type=code, non_retryable=not retryable)``.
"""

from __future__ import annotations

from typing import ClassVar


class AppError(Exception):
    """Root of every error we raise; ``code`` is stable and safe to show to API clients."""

    code: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False


class NotFoundError(AppError):
    """Missing, or not this tenant's (the two are never told apart)."""

    code = "not_found"


class CheckoutError(AppError):
    """A checkout cannot proceed as summarised."""

    code = "checkout"


class CartChangedError(CheckoutError):
    """The cart changed (or was checked out) since the summary."""

    code = "CartChanged"


class EmptyCartError(CheckoutError):
    """The cart has no lines."""

    code = "EmptyCart"


class OutOfStockError(CheckoutError):
    """Some lines exceed the stock left.

    Attributes:
        unavailable: human labels of the lines that cannot be fulfilled.
    """

    code = "OutOfStock"

    def __init__(self, unavailable: list[str]) -> None:
        """Build from the labels of the lines that cannot be fulfilled."""
        super().__init__("out of stock: " + ", ".join(unavailable))
        self.unavailable = unavailable


class PriceChangedError(CheckoutError):
    """A unit price differs from the confirmed summary."""

    code = "PriceChanged"


class ModelError(AppError):
    """The language model could not answer; ``status`` is the HTTP status when there was one."""

    code = "model_error"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        """Keep the HTTP status and the provider's suggested delay (``Retry-After``)."""
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class ModelUnavailable(ModelError):
    """Rate limited, server error, timeout or connection failure: retry later."""

    code = "model_unavailable"
    retryable = True


class ModelRejected(ModelError):
    """Bad credentials, unknown model or a request the server refuses: retrying won't help."""

    code = "model_rejected"


class StoreError(AppError):
    """A connected store refused or failed a request.

    Attributes:
        status: the HTTP status when there was one.
        provider_code: the store's own error code (``woocommerce_rest_coupon_code_already_exists``,
            ``THROTTLED``...), safe to show; never the store's free-text message, which can
            echo customer data.
    """

    code = "store_error"

    def __init__(
        self, message: str, *, status: int | None = None, provider_code: str | None = None
    ) -> None:
        """Keep the HTTP status and the provider's error code."""
        super().__init__(message)
        self.status = status
        self.provider_code = provider_code


class StoreUnavailable(StoreError):
    """Server error, timeout or connection failure: retry later."""

    code = "store_unavailable"
    retryable = True


class StoreThrottled(StoreUnavailable):
    """Still rate limited after the waits the provider asked for.

    Attributes:
        retry_after_s: the provider's last suggested delay, when it gave one.
    """

    code = "store_throttled"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider_code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        """Keep the suggested delay next to the status and code."""
        super().__init__(message, status=status, provider_code=provider_code)
        self.retry_after_s = retry_after_s


class StoreAuthError(StoreError):
    """Credentials were refused (401/403) or could not be refreshed: reconnect the store."""

    code = "store_auth"


class StoreRejected(StoreError):
    """The store refused this request; sending it again will not help."""

    code = "store_rejected"


class StoreNotSupported(StoreError):
    """This kind of store does not offer the feature (e.g. coupons on a custom backend)."""

    code = "store_not_supported"
