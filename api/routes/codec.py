"""Remote codec endpoint for the Temporal UI and CLI: ``POST /codec/encode``, ``/codec/decode``.

Payloads reach Temporal encrypted (``workflows.client.EncryptionCodec``); the Temporal UI
shows them decrypted only by sending them here (Temporal's remote codec protocol: a JSON body
``{"payloads": [{"metadata": {"<key>": "<base64>"}, "data": "<base64>"}]}``, the proto3 JSON
form of ``temporal.api.common.v1.Payloads``, answered in the same shape; the header
``X-Namespace`` names the namespace). Payloads that are not encrypted come back unchanged.

Who may call: decrypted payloads hold every shop's customers' phone numbers, addresses and
messages, so only the install operator: ``Authorization: Bearer <TENDERO_ADMIN_TOKEN>``
(the ``temporal`` CLI: ``--codec-auth "Bearer ..."``), or the ``tendero_codec`` session cookie
that ``POST /codec/login`` sets after checking that same token. The cookie exists because the
Temporal UI cannot send a token of ours: it only passes its own OIDC access token ("Pass the
user access token") or the browser's cookies ("Include cross-origin credentials"). Tenant API
keys and shop users' tokens are refused: a namespace holds every tenant's data.

CORS: only the Temporal UI's origin (``TEMPORAL_UI_ORIGIN``, by default the origin of
``TEMPORAL_UI_URL``) gets CORS headers, with credentials; preflights from other origins are
refused (400) and their requests get no CORS headers, so a browser never hands them the answer.

Errors: missing or invalid credential 401; ``X-Namespace`` other than ``TEMPORAL_NAMESPACE``
400; a payload that cannot be decrypted (unknown key id, altered) 400; a malformed body 422.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Coroutine
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator
from temporalio.api.common.v1 import Payload

from api.auth import check_admin_token
from api.deps import SessionsDep, SettingsDep
from api.ratelimit import RATE_LIMIT_ERRORS
from tendero.codec import PayloadDecryptionError
from tendero.settings import Settings
from workflows.client import EncryptionCodec

SESSION_COOKIE = "tendero_codec"
"""Name of the session cookie set by ``POST /codec/login``."""

SESSION_TTL_S = 8 * 60 * 60
"""How long a UI session lasts (a working day)."""

ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
"""Request headers the Temporal UI sends to a codec server."""


def allowed_origins(settings: Settings) -> frozenset[str]:
    """Browser origins allowed to call the codec endpoint.

    Args:
        settings: ``temporal_ui_origin`` (comma-separated) or, unset, ``temporal_ui_url``.

    Returns:
        Origins as browsers send them (``scheme://host[:port]``, no trailing slash).
    """
    if settings.temporal_ui_origin:
        return frozenset(
            o.strip().rstrip("/") for o in settings.temporal_ui_origin.split(",") if o.strip()
        )
    url = urlsplit(settings.temporal_ui_url)
    return frozenset({f"{url.scheme}://{url.netloc}"})


def _with_cors(request: Request, response: Response) -> Response:
    """Add CORS headers when the request comes from an allowed origin (else none at all)."""
    origin = request.headers.get("origin")
    settings: Settings = request.app.state.settings
    if origin is None or origin not in allowed_origins(settings):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers.add_vary_header("Origin")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


class _CorsRoute(APIRoute):
    """A route whose every answer, errors included, carries CORS headers for the UI origin.

    Errors need them too: without them the browser hides a 401 from the UI, which then
    reports a network error instead of "unauthorized". Scoped to this router so the rest of
    the API gets no CORS at all.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so raised HTTP and validation errors get the headers too."""
        handler = super().get_route_handler()

        async def with_cors(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                response = await http_exception_handler(request, exc)
            except RequestValidationError as exc:
                response = await request_validation_exception_handler(request, exc)
            return _with_cors(request, response)

        return with_cors


router = APIRouter(prefix="/codec", tags=["codec"], route_class=_CorsRoute)

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="codecBearer",
    description="TENDERO_ADMIN_TOKEN (the install operator)",
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "X-Namespace is not this install's namespace, or undecryptable."},
    401: {"description": "Missing or invalid admin token or session cookie."},
    **RATE_LIMIT_ERRORS,
}


def _b64decode(value: str) -> bytes:
    # Proto3 JSON accepts standard and URL-safe base64, padded or not; anything else is an
    # error here (protobuf's own parser silently drops invalid characters).
    text = value.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class CodecPayload(BaseModel):
    """One ``temporal.api.common.v1.Payload`` in proto3 JSON form (bytes are base64)."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""

    @field_validator("data")
    @classmethod
    def _data_is_base64(cls, value: str) -> str:
        try:
            _b64decode(value)
        except (binascii.Error, ValueError):
            raise ValueError("data must be base64") from None
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_is_base64(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            try:
                _b64decode(item)
            except (binascii.Error, ValueError):
                raise ValueError(f"metadata[{key!r}] must be base64") from None
        return value

    def to_proto(self) -> Payload:
        """The protobuf payload."""
        return Payload(
            metadata={k: _b64decode(v) for k, v in self.metadata.items()},
            data=_b64decode(self.data),
        )

    @classmethod
    def from_proto(cls, payload: Payload) -> CodecPayload:
        """The JSON form of ``payload`` (standard padded base64, as proto3 JSON writes it)."""
        return cls(
            metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
            data=base64.b64encode(payload.data).decode(),
        )


class CodecPayloads(BaseModel):
    """``temporal.api.common.v1.Payloads`` in proto3 JSON form."""

    payloads: list[CodecPayload]


def _session_mac(settings: Settings, expires: int) -> str:
    # Bound to the current admin token: changing TENDERO_ADMIN_TOKEN ends every session.
    admin = hashlib.sha256(settings.tendero_admin_token.get_secret_value().encode()).digest()
    return hmac.new(
        settings.derived_key("codec-session"), b"%d." % expires + admin, hashlib.sha256
    ).hexdigest()


def session_cookie(settings: Settings, now: float | None = None) -> str:
    """A signed session value: ``<expiry unix seconds>.<HMAC-SHA256 hex>``.

    Args:
        settings: the secret key (HMAC key derived for ``codec-session``) and admin token.
        now: the current time (tests); default ``time.time()``.

    Returns:
        The cookie value; valid for :data:`SESSION_TTL_S` seconds.
    """
    expires = int(now if now is not None else time.time()) + SESSION_TTL_S
    return f"{expires}.{_session_mac(settings, expires)}"


_EXPIRY = re.compile(r"[0-9]{1,12}")


def session_is_valid(settings: Settings, value: str, now: float | None = None) -> bool:
    """True for an unexpired value made by :func:`session_cookie` with the same secrets."""
    expires_text, _, mac = value.partition(".")
    # ASCII digits only, bounded: ``str.isdigit`` accepts "²" and ``int`` refuses very long
    # numbers, and either would turn a forged cookie into a 500 instead of a 401.
    if _EXPIRY.fullmatch(expires_text) is None:
        return False
    expires = int(expires_text)
    if expires < (now if now is not None else time.time()):
        return False
    # Bytes: ``compare_digest`` raises TypeError on str with non-ASCII characters.
    return hmac.compare_digest(mac.encode(), _session_mac(settings, expires).encode())


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="the admin token or a /codec/login session is required",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_operator(
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Accept a valid session cookie or the admin bearer token.

    Either is enough: with "Pass the user access token" on, the UI sends its own OIDC token
    as ``Authorization`` next to our cookie, and that must not shadow the cookie. A bearer
    token is checked only without a valid cookie; a wrong admin-token guess counts against
    the caller's IP (``api.auth.check_admin_token``; the UI's OIDC token, a JWT, does not).

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer``; 429 with ``Retry-After`` after
            too many wrong tokens.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None and session_is_valid(settings, cookie):
        return
    if credentials is not None and await check_admin_token(
        request, sessions, settings, credentials.credentials
    ):
        return
    raise _unauthorized()


async def require_namespace(
    settings: SettingsDep,
    x_namespace: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse another namespace's payloads (their keys are not ours).

    A request without ``X-Namespace`` is accepted: the protocol makes the header optional.

    Raises:
        HTTPException: 400 when ``X-Namespace`` is not ``TEMPORAL_NAMESPACE``.
    """
    if x_namespace is not None and x_namespace != settings.temporal_namespace:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"this codec serves namespace {settings.temporal_namespace!r} only",
        )


# Authentication first, so an anonymous caller learns nothing about the namespace.
_GUARDS = [Depends(require_operator), Depends(require_namespace)]


@router.post("/encode", dependencies=_GUARDS, responses=_ERRORS)
async def encode(body: CodecPayloads, settings: SettingsDep) -> CodecPayloads:
    """Encrypt payloads under the current key (what a worker would write)."""
    codec = EncryptionCodec.from_settings(settings)
    encoded = await codec.encode([p.to_proto() for p in body.payloads])
    return CodecPayloads(payloads=[CodecPayload.from_proto(p) for p in encoded])


@router.post("/decode", dependencies=_GUARDS, responses=_ERRORS)
async def decode(body: CodecPayloads, settings: SettingsDep) -> CodecPayloads:
    """Decrypt payloads; those that are not encrypted come back unchanged."""
    codec = EncryptionCodec.from_settings(settings)
    try:
        decoded = await codec.decode([p.to_proto() for p in body.payloads])
    except PayloadDecryptionError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(err)) from None
    return CodecPayloads(payloads=[CodecPayload.from_proto(p) for p in decoded])


@router.options("/encode", include_in_schema=False)
@router.options("/decode", include_in_schema=False)
async def preflight(request: Request) -> Response:
    """Answer the browser's CORS preflight; 400 (and no CORS headers) for other origins."""
    origin = request.headers.get("origin")
    settings: Settings = request.app.state.settings
    if origin is None or origin not in allowed_origins(settings):
        return Response("origin not allowed", status_code=status.HTTP_400_BAD_REQUEST)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<style>body{font-family:system-ui;max-width:36rem;margin:3rem auto}</style></head>"
        f"<body><h1>{escape(title)}</h1>{message}</body></html>"
    )
    return HTMLResponse(body, status_code=status_code)


_LOGIN_FORM = (
    "<p>Sign in with <code>TENDERO_ADMIN_TOKEN</code> so the Temporal UI can show decrypted "
    "payloads.</p><form method='post'><input type='password' name='token' "
    "autocomplete='current-password' required> <button>Sign in</button></form>"
)


@router.get("/login", response_class=HTMLResponse)
async def login_page() -> HTMLResponse:
    """A form asking for the admin token (for the Temporal UI's cookie session)."""
    return _page("Temporal codec: sign in", _LOGIN_FORM)


@router.post(
    "/login",
    response_class=HTMLResponse,
    responses={401: {"description": "Wrong admin token."}, **RATE_LIMIT_ERRORS},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {"token": {"type": "string"}},
                        "required": ["token"],
                    }
                }
            }
        }
    },
)
async def login(request: Request, settings: SettingsDep, sessions: SessionsDep) -> HTMLResponse:
    """Check the admin token (form field ``token``) and set the session cookie.

    The cookie is ``HttpOnly`` and limited to ``/codec``. Over HTTPS it is
    ``SameSite=None; Secure`` so a UI on another site can send it; over plain HTTP (``tendero
    dev``) it is ``SameSite=Lax``, which browsers still send from the UI on the same host.
    """
    # Parsed by hand: the form has one field and python-multipart is not a dependency.
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (fields.get("token") or [""])[0]
    if not await check_admin_token(request, sessions, settings, token):
        return _page("Temporal codec: sign in", "<p>Wrong token.</p>" + _LOGIN_FORM, 401)
    secure = request.url.scheme == "https" or settings.tendero_public_url.startswith("https://")
    response = _page(
        "Temporal codec: signed in",
        "<p>Signed in for 8 hours. In the Temporal UI, open the codec server settings, set "
        "this endpoint and tick <em>Include cross-origin credentials</em>.</p>",
    )
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(settings),
        max_age=SESSION_TTL_S,
        path="/codec",
        secure=secure,
        httponly=True,
        samesite="none" if secure else "lax",
    )
    return response


@router.post("/logout", response_class=HTMLResponse)
async def logout() -> HTMLResponse:
    """End the session (clears the cookie)."""
    response = _page("Temporal codec: signed out", "<p>Signed out.</p>")
    response.delete_cookie(SESSION_COOKIE, path="/codec")
    return response
