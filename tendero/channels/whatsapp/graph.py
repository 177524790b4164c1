"""Async client for the WhatsApp Cloud API send endpoint (``POST /{phone_number_id}/messages``).

Source: notes/whatsapp.md section 2 ("Sending", "Limits and error codes"), from Meta's Cloud
API error-code and throughput pages. Meta's error body is
``{"error": {"message", "type", "code", "error_subcode"?, "error_data": {"details"},
"fbtrace_id"}}``; classify by ``error.code``, not by the HTTP status.

Error tree (every failure of :meth:`GraphClient.send` / :meth:`GraphClient.mark_read`)::

    GraphError                 code, http_status, title, details, fbtrace_id,
    │                          retryable, retry_after_s
    ├── WindowClosedError      131047  24 h customer-service window closed: send a
    │                                  template instead (not retryable)
    ├── RateLimitedError       130429 throughput, 131056 pair rate (same recipient),
    │                          4 app call rate, 80007 WABA rate (retryable after backoff;
    │                          queue per recipient for 131056)
    ├── InvalidTokenError      190 or HTTP 401 (not retryable: fix the token)
    └── RecipientError         131026 undeliverable: not on WhatsApp, old client,
                                       terms not accepted (not retryable)

Anything else is a plain ``GraphError``: retryable when the HTTP status is >= 500, the code
is 131000 (generic, Meta says retry) or the request never got a response (transport error or
timeout, ``code`` and ``http_status`` are ``None``); otherwise not retryable. 131048 (spam rate
limit, quality based) is deliberately *not* retryable: retrying lowers quality further.
A retried send after a timeout may deliver twice; callers dedupe on their side.

Secrets: the access token and the recipient are never put into exception messages or logs;
any echo of them in Meta's error text is replaced by ``[redacted]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx

logger = logging.getLogger(__name__)

_REDACTED = "[redacted]"
_RETRYABLE_GENERIC_CODES = frozenset({131000})


class GraphError(Exception):
    """A failed Graph API call.

    Attributes:
        code: Meta's ``error.code`` (``None`` for transport errors and non-JSON bodies).
        http_status: the HTTP status (``None`` when no response arrived).
        title: Meta's ``error.message`` (redacted) or a description of the failure.
        details: ``error.error_data.details`` (redacted) when present.
        error_subcode: ``error.error_subcode`` when present.
        fbtrace_id: Meta's trace id, to quote in support requests.
        retryable: whether sending the same request again later can succeed.
        retry_after_s: a suggested delay before retrying (``Retry-After`` header, or a
            per-code default), ``None`` when unknown.
    """

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        title: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        details: str | None = None,
        error_subcode: int | None = None,
        fbtrace_id: str | None = None,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        """Create the error; ``retryable`` defaults to the class's ``default_retryable``."""
        self.title = title
        self.code = code
        self.http_status = http_status
        self.details = details
        self.error_subcode = error_subcode
        self.fbtrace_id = fbtrace_id
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after_s = retry_after_s
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"Graph API error {self.code if self.code is not None else '-'}"]
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        text = " ".join(parts) + f": {self.title}"
        if self.details and self.details != self.title:
            text += f" [{self.details}]"
        if self.fbtrace_id:
            text += f" fbtrace_id={self.fbtrace_id}"
        return text


class WindowClosedError(GraphError):
    """131047: more than 24 h since the customer's last message; only templates may be sent."""


class RateLimitedError(GraphError):
    """130429 / 131056 / 4 / 80007: a throughput or pair rate limit; back off and retry."""

    default_retryable: ClassVar[bool] = True


class InvalidTokenError(GraphError):
    """190 or HTTP 401: the access token is invalid or expired."""


class RecipientError(GraphError):
    """131026: the message cannot be delivered to this recipient."""


_CODE_TABLE: dict[int, type[GraphError]] = {
    131047: WindowClosedError,
    130429: RateLimitedError,
    131056: RateLimitedError,
    4: RateLimitedError,
    80007: RateLimitedError,
    190: InvalidTokenError,
    131026: RecipientError,
}
# Pair rate limit: about one message per 6 s per recipient (notes section 2, secondary source).
_DEFAULT_RETRY_AFTER_S: dict[int, float] = {131056: 6.0}


def _redact(text: str | None, secrets: Iterable[str]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date; Meta does not send those, not worth parsing
    return seconds if seconds >= 0 else None


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def error_from_response(response: httpx.Response, *, redact: Iterable[str] = ()) -> GraphError:
    """Classify a non-2xx Graph API response.

    Args:
        response: the response (its body may be JSON ``{"error": {...}}`` or anything else).
        redact: strings (token, recipient) to scrub from Meta's message and details.

    Returns:
        The matching :class:`GraphError` subclass instance (see the module docstring table).
    """
    secrets = [s for s in redact if s]
    try:
        payload: object = response.json()
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return GraphError(
            f"unexpected error response ({response.headers.get('content-type', 'no type')})",
            http_status=response.status_code,
            retryable=response.status_code >= 500,
            retry_after_s=_retry_after(response),
        )
    code = _as_int(error.get("code"))
    error_data = error.get("error_data")
    details = _as_str(error_data.get("details")) if isinstance(error_data, dict) else None
    cls = _CODE_TABLE.get(code) if code is not None else None
    if cls is None and response.status_code == 401:
        cls = InvalidTokenError
    retryable: bool | None = None
    if cls is None:
        cls = GraphError
        retryable = response.status_code >= 500 or code in _RETRYABLE_GENERIC_CODES
    retry_after = _retry_after(response)
    if retry_after is None and code is not None:
        retry_after = _DEFAULT_RETRY_AFTER_S.get(code)
    return cls(
        _redact(_as_str(error.get("message")), secrets) or "unknown Graph API error",
        code=code,
        http_status=response.status_code,
        details=_redact(details, secrets),
        error_subcode=_as_int(error.get("error_subcode")),
        fbtrace_id=_as_str(error.get("fbtrace_id")),
        retryable=retryable,
        retry_after_s=retry_after if cls.default_retryable or retryable else None,
    )


class GraphClient:
    """Sends WhatsApp messages through Meta's Graph API.

    The caller owns the ``httpx.AsyncClient`` (timeouts, pooling, ``MockTransport`` in
    tests). Tokens are passed per call because each tenant has its own business number and
    system-user token.

    Args:
        http: the shared async HTTP client.
        base_url: e.g. ``https://graph.facebook.com`` (settings ``whatsapp_graph_url``).
        api_version: e.g. ``v23.0`` (settings ``whatsapp_api_version``); a missing ``v`` is
            added.
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_version: str) -> None:
        """Store the client and the versioned Graph root URL."""
        self._http = http
        version = api_version.strip("/")
        if not version.startswith("v"):
            version = "v" + version
        self._root = f"{base_url.rstrip('/')}/{version}"

    def messages_url(self, phone_number_id: str) -> str:
        """The send endpoint ``{base_url}/{api_version}/{phone_number_id}/messages``."""
        return f"{self._root}/{phone_number_id}/messages"

    async def send(self, phone_number_id: str, access_token: str, body: dict[str, Any]) -> str:
        """POST a message body (from :func:`~tendero.channels.whatsapp.builders.build_message`).

        Args:
            phone_number_id: the sending business number's id.
            access_token: the system-user token (sent as ``Authorization: Bearer``).
            body: the JSON message body.

        Returns:
            The ``wamid`` of the accepted message (``messages[0].id`` of the response);
            store it to join later status webhooks.

        Raises:
            GraphError: or one of its subclasses; see the module docstring.
        """
        recipient = body.get("to")
        redact = [access_token, recipient if isinstance(recipient, str) else ""]
        data = await self._post(phone_number_id, access_token, body, redact)
        messages = data.get("messages")
        # One body sends one message, so the first (only) id is the one we need.
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            if isinstance(wamid, str) and wamid:
                return wamid
        raise GraphError("send response has no messages[0].id")

    async def mark_read(self, phone_number_id: str, access_token: str, wamid: str) -> None:
        """Mark an inbound message as read (blue ticks) on the same endpoint.

        Body: ``{"messaging_product": "whatsapp", "status": "read", "message_id": wamid}``.

        Args:
            phone_number_id: the business number that received the message.
            access_token: the system-user token.
            wamid: the inbound message id.

        Raises:
            GraphError: or one of its subclasses; see the module docstring.
        """
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        await self._post(phone_number_id, access_token, body, [access_token])

    async def _post(
        self,
        phone_number_id: str,
        access_token: str,
        body: dict[str, Any],
        redact: list[str],
    ) -> dict[str, Any]:
        try:
            response = await self._http.post(
                self.messages_url(phone_number_id),
                json=body,
                headers={"Authorization": f"Bearer {access_token}"},
            )
        except httpx.TransportError as exc:
            # The exception text can carry request details; keep only its type.
            logger.warning("Graph API transport error: %s", type(exc).__name__)
            raise GraphError(f"transport error: {type(exc).__name__}", retryable=True) from exc
        if response.is_success:
            try:
                data: object = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise GraphError(
                    "success response is not a JSON object", http_status=response.status_code
                )
            return data
        error = error_from_response(response, redact=redact)
        logger.warning(
            "Graph API call failed: code=%s http=%s retryable=%s fbtrace_id=%s",
            error.code,
            error.http_status,
            error.retryable,
            error.fbtrace_id,
        )
        raise error
