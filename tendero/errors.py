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
└── NotFoundError             an id that does not exist in this tenant (or belongs to another)
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
