"""``/codec/encode`` and ``/codec/decode``: Temporal's remote codec protocol, for the UI only."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.routes.codec import SESSION_COOKIE, SESSION_TTL_S, session_cookie, session_is_valid
from tests.codec import codec_converter
from tests.codec.test_codec import expected_key_id
from tests.harness import SECRET_KEY, Stack, running_stack

UI_ORIGIN = "http://127.0.0.1:8233"  # the origin of the default TEMPORAL_UI_URL
ADDRESS = "9 Elm Road"
ORIGINAL = {"phone": "+14155550123", "address": ADDRESS}


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, with_worker=False
    ) as running:
        yield running


def admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.tendero_admin_token.get_secret_value()}"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def to_json(payload: Payload) -> dict[str, object]:
    return {"metadata": {k: b64(v) for k, v in payload.metadata.items()}, "data": b64(payload.data)}


def plain_payload() -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([ORIGINAL])[0]


async def encrypted_payload() -> Payload:
    codec = codec_converter().payload_codec
    assert codec is not None
    (encrypted,) = await codec.encode([plain_payload()])
    return encrypted


async def test_decode_returns_the_original_payload(stack: Stack) -> None:
    encrypted = await encrypted_payload()
    response = await stack.http.post(
        "/codec/decode",
        json={"payloads": [to_json(encrypted)]},
        headers={**admin(stack), "X-Namespace": stack.settings.temporal_namespace},
    )
    assert response.status_code == 200, response.text
    original = plain_payload()
    assert response.json() == {
        "payloads": [
            {
                "metadata": {"encoding": b64(b"json/plain")},
                "data": b64(b'{"phone":"+14155550123","address":"9 Elm Road"}'),
            }
        ]
    }
    assert response.json() == {"payloads": [to_json(original)]}


async def test_encode_then_decode_round_trip(stack: Stack) -> None:
    original = to_json(plain_payload())
    encoded = await stack.http.post(
        "/codec/encode", json={"payloads": [original, original]}, headers=admin(stack)
    )
    assert encoded.status_code == 200, encoded.text
    first, second = encoded.json()["payloads"]
    assert first["metadata"] == {
        "encoding": b64(b"binary/encrypted"),
        "encryption-key-id": b64(expected_key_id(SECRET_KEY).encode()),
    }
    assert first["data"] != second["data"]  # a fresh nonce each time
    assert ADDRESS.encode() not in base64.b64decode(first["data"])
    decoded = await stack.http.post("/codec/decode", json=encoded.json(), headers=admin(stack))
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == {"payloads": [original, original]}


async def test_unencrypted_payloads_come_back_unchanged(stack: Stack) -> None:
    # Proto3 JSON may use URL-safe base64 without padding: accepted, answered in standard form.
    body = {
        "payloads": [
            {"metadata": {"encoding": "anNvbi9wbGFpbg"}, "data": "eyJhIjoxfQ"},
            {"metadata": {"encoding": b64(b"binary/null")}},
        ]
    }
    response = await stack.http.post("/codec/decode", json=body, headers=admin(stack))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "payloads": [
            {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(b'{"a":1}')},
            {"metadata": {"encoding": b64(b"binary/null")}, "data": ""},
        ]
    }


async def test_without_or_with_a_wrong_credential_401(stack: Stack) -> None:
    body = {"payloads": [to_json(await encrypted_payload())]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YTpi"}):
        for path in ("/codec/decode", "/codec/encode"):
            response = await stack.http.post(path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert ADDRESS not in response.text


async def test_tenant_api_key_is_refused(stack: Stack) -> None:
    # A shop's key sees one tenant; a namespace holds every tenant's payloads.
    body = {"payloads": [to_json(await encrypted_payload())]}
    response = await stack.http.post(
        "/codec/decode", json=body, headers={"Authorization": "Bearer tdk_abcd_efgh"}
    )
    assert response.status_code == 401


async def test_wrong_namespace_400(stack: Stack) -> None:
    body = {"payloads": [to_json(await encrypted_payload())]}
    response = await stack.http.post(
        "/codec/decode", json=body, headers={**admin(stack), "X-Namespace": "other"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "this codec serves namespace 'default' only"}
    # Unauthenticated callers learn nothing about namespaces: 401 first.
    response = await stack.http.post("/codec/decode", json=body, headers={"X-Namespace": "other"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"payloads": "nope"},
        {"payloads": [{"data": "!!!not base64"}]},
        {"payloads": [{"metadata": {"encoding": "@@@"}, "data": ""}]},
    ],
    ids=["no-payloads", "not-a-list", "bad-data", "bad-metadata"],
)
async def test_bad_body_422(stack: Stack, body: dict[str, object]) -> None:
    response = await stack.http.post("/codec/decode", json=body, headers=admin(stack))
    assert response.status_code == 422, response.text


async def test_undecryptable_payload_400(stack: Stack) -> None:
    encrypted = await encrypted_payload()
    encrypted.data = encrypted.data[:-1] + bytes([encrypted.data[-1] ^ 1])
    response = await stack.http.post(
        "/codec/decode", json={"payloads": [to_json(encrypted)]}, headers=admin(stack)
    )
    assert response.status_code == 400
    key_id = expected_key_id(SECRET_KEY)
    assert response.json() == {
        "detail": f"encrypted payload (key id '{key_id}') failed authentication: it was altered"
    }


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }


async def test_preflight_from_the_ui_origin(stack: Stack) -> None:
    for path in ("/codec/decode", "/codec/encode"):
        response = await stack.http.options(path, headers=preflight_headers(UI_ORIGIN))
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == UI_ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
        assert (
            response.headers["access-control-allow-headers"]
            == "Authorization, Content-Type, X-Namespace"
        )
        assert response.headers["vary"] == "Origin"


async def test_other_origins_get_no_cors_headers(stack: Stack) -> None:
    for origin in ("https://evil.example", "http://127.0.0.1:8234", "http://localhost:8233"):
        response = await stack.http.options("/codec/decode", headers=preflight_headers(origin))
        assert response.status_code == 400
        assert not [h for h in response.headers if h.startswith("access-control-")]
        post = await stack.http.post(
            "/codec/decode",
            json={"payloads": [to_json(await encrypted_payload())]},
            headers={**admin(stack), "Origin": origin},
        )
        assert post.status_code == 200  # a server answers; the browser withholds it
        assert not [h for h in post.headers if h.startswith("access-control-")]


async def test_answers_to_the_ui_carry_cors_headers_errors_included(stack: Stack) -> None:
    body = {"payloads": [to_json(await encrypted_payload())]}
    ok = await stack.http.post(
        "/codec/decode", json=body, headers={**admin(stack), "Origin": UI_ORIGIN}
    )
    denied = await stack.http.post("/codec/decode", json=body, headers={"Origin": UI_ORIGIN})
    invalid = await stack.http.post(
        "/codec/decode", json={}, headers={**admin(stack), "Origin": UI_ORIGIN}
    )
    for response, code in ((ok, 200), (denied, 401), (invalid, 422)):
        assert response.status_code == code
        assert response.headers["access-control-allow-origin"] == UI_ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"


async def test_the_rest_of_the_api_gets_no_cors(stack: Stack) -> None:
    response = await stack.http.get("/health", headers={"Origin": UI_ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_configured_ui_origin_replaces_the_default(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    origins = "https://temporal.example.com, https://ui.example.org/"
    async with running_stack(
        temporal_env.client,
        sessionmaker,
        database_url,
        with_worker=False,
        temporal_ui_origin=origins,
    ) as stack:
        for origin in ("https://temporal.example.com", "https://ui.example.org"):
            allowed = await stack.http.options("/codec/decode", headers=preflight_headers(origin))
            assert allowed.status_code == 204
            assert allowed.headers["access-control-allow-origin"] == origin
        default = await stack.http.options("/codec/decode", headers=preflight_headers(UI_ORIGIN))
        assert default.status_code == 400
        assert "access-control-allow-origin" not in default.headers


async def test_login_sets_a_session_cookie_the_ui_can_send(stack: Stack) -> None:
    body = {"payloads": [to_json(await encrypted_payload())]}
    page = await stack.http.get("/codec/login")
    assert page.status_code == 200 and "name='token'" in page.text

    wrong = await stack.http.post(
        "/codec/login",
        content="token=wrong",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers

    token = stack.settings.tendero_admin_token.get_secret_value()
    signed_in = await stack.http.post(
        "/codec/login",
        data={"token": token},
    )
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert attributes == {
        "httponly",
        f"max-age={SESSION_TTL_S}",
        "path=/codec",
        "samesite=lax",
    }
    assert token not in cookie

    # The browser (here the client's cookie jar) sends it with no Authorization header.
    decoded = await stack.http.post("/codec/decode", json=body, headers={"Origin": UI_ORIGIN})
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == {"payloads": [to_json(plain_payload())]}
    # The UI's own OIDC token next to the cookie does not shadow it.
    with_oidc = await stack.http.post(
        "/codec/decode", json=body, headers={"Authorization": "Bearer eyJ.oidc.token"}
    )
    assert with_oidc.status_code == 200

    signed_out = await stack.http.post("/codec/logout")
    assert signed_out.status_code == 200
    assert SESSION_COOKIE not in stack.http.cookies
    assert (await stack.http.post("/codec/decode", json=body)).status_code == 401


async def test_expired_or_forged_session_cookie_401(stack: Stack) -> None:
    body = {"payloads": [to_json(await encrypted_payload())]}
    expired = session_cookie(stack.settings, now=time.time() - SESSION_TTL_S - 1)
    valid = session_cookie(stack.settings)
    expires, _, mac = valid.partition(".")
    forged_later = f"{int(expires) + 3600}.{mac}"
    for value in (expired, forged_later, "garbage", f"{expires}.{'0' * 64}"):
        response = await stack.http.post(
            "/codec/decode", json=body, headers={"Cookie": f"{SESSION_COOKIE}={value}"}
        )
        assert response.status_code == 401, value
    ok = await stack.http.post(
        "/codec/decode", json=body, headers={"Cookie": f"{SESSION_COOKIE}={valid}"}
    )
    assert ok.status_code == 200


async def test_a_new_admin_token_ends_sessions(stack: Stack) -> None:
    old = session_cookie(stack.settings)
    rotated = stack.settings.model_copy(
        update={"tendero_admin_token": SecretStr("a-new-admin-token")}
    )
    assert session_is_valid(stack.settings, old)
    assert not session_is_valid(rotated, old)


@pytest.mark.parametrize(
    "value",
    ["\u00b2.abc", "1" * 5000 + ".abc", "9999999999.\u00e9", "9999999999"],
    ids=["non-ascii-digit", "huge-expiry", "non-ascii-mac", "no-mac"],
)
async def test_malformed_session_cookie_401_not_500(stack: Stack, value: str) -> None:
    # Latin-1 header bytes reach the cookie parser as non-ASCII characters: still a 401.
    body = {"payloads": [to_json(await encrypted_payload())]}
    response = await stack.http.post(
        "/codec/decode",
        json=body,
        headers=[(b"Cookie", f"{SESSION_COOKIE}={value}".encode("latin-1"))],
    )
    assert response.status_code == 401, response.text
    assert not session_is_valid(stack.settings, value)
