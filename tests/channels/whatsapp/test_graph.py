import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tendero.channels.whatsapp.graph import (
    GraphClient,
    GraphError,
    InvalidTokenError,
    RateLimitedError,
    RecipientError,
    WindowClosedError,
)

TOKEN = "EAAGm0PX4ZCpsBAFAKE-token-0123456789"
RECIPIENT = "5491122334455"
PHONE_NUMBER_ID = "106540352242922"
BODY = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": RECIPIENT,
    "type": "text",
    "text": {"body": "hola", "preview_url": False},
}
SUCCESS = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": RECIPIENT, "wa_id": RECIPIENT}],
    "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"}],
}

Handler = Callable[[httpx.Request], httpx.Response]


def client_with(handler: Handler, base_url: str = "https://graph.facebook.com") -> GraphClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GraphClient(http, base_url, "v23.0")


def meta_error(code: int, message: str, details: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


async def test_send_returns_wamid_and_posts_the_right_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SUCCESS)

    wamid = await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    assert wamid == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == f"https://graph.facebook.com/v23.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == BODY


async def test_base_url_slash_and_bare_version_are_normalised() -> None:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json=SUCCESS)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = GraphClient(http, "http://localhost:8090/graph/", "23.0")
    await client.send("1", TOKEN, BODY)
    assert urls == ["http://localhost:8090/graph/v23.0/1/messages"]


async def test_mark_read() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True})

    result = await client_with(handler).mark_read(PHONE_NUMBER_ID, TOKEN, "wamid.in")
    assert result is None
    [request] = seen
    assert str(request.url).endswith(f"/v23.0/{PHONE_NUMBER_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.in",
    }


@pytest.mark.parametrize(
    ("code", "http_status", "cls", "retryable"),
    [
        (131047, 400, WindowClosedError, False),
        (130429, 400, RateLimitedError, True),
        (131056, 400, RateLimitedError, True),
        (4, 400, RateLimitedError, True),
        (80007, 400, RateLimitedError, True),
        (190, 401, InvalidTokenError, False),
        (131026, 400, RecipientError, False),
        (131000, 500, GraphError, True),
        (131000, 400, GraphError, True),
        (131048, 400, GraphError, False),
        (100, 400, GraphError, False),
        (2, 503, GraphError, True),
        (0, 401, InvalidTokenError, False),
    ],
)
async def test_error_codes_map_to_classes(
    code: int, http_status: int, cls: type[GraphError], retryable: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(http_status, json=meta_error(code, "Something", "More details"))

    with pytest.raises(GraphError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    error = info.value
    assert type(error) is cls
    assert error.code == code
    assert error.http_status == http_status
    assert error.retryable is retryable
    assert error.title == "Something"
    assert error.details == "More details"
    assert error.fbtrace_id == "AbCdEf123"
    assert str(code) in str(error)


async def test_pair_rate_limit_suggests_a_delay() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=meta_error(131056, "(Business Account, Consumer) pair"))

    with pytest.raises(RateLimitedError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    assert info.value.retry_after_s == 6.0


async def test_retry_after_header_wins() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, json=meta_error(130429, "Rate limit hit"), headers={"Retry-After": "12"}
        )

    with pytest.raises(RateLimitedError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    assert info.value.retry_after_s == 12.0


async def test_not_retryable_errors_have_no_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json=meta_error(131047, "Re-engagement message"), headers={"Retry-After": "5"}
        )

    with pytest.raises(WindowClosedError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    assert info.value.retry_after_s is None


async def test_token_and_recipient_never_in_exception_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Meta really echoes bad tokens ("Malformed access token EAAG...").
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            json=meta_error(
                190,
                f"Malformed access token {TOKEN}",
                f"Recipient {RECIPIENT} with token {TOKEN}",
            ),
        )

    with caplog.at_level(logging.DEBUG), pytest.raises(InvalidTokenError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    error = info.value
    for text in (str(error), repr(error), error.title, error.details or "", caplog.text):
        assert TOKEN not in text
        assert RECIPIENT not in text
    assert "[redacted]" in error.title


@pytest.mark.parametrize(("http_status", "retryable"), [(502, True), (400, False), (404, False)])
async def test_non_json_error_body(http_status: int, retryable: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            http_status, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}
        )

    with pytest.raises(GraphError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    error = info.value
    assert type(error) is GraphError
    assert (error.code, error.http_status, error.retryable) == (None, http_status, retryable)
    assert TOKEN not in str(error)


async def test_json_error_without_error_object() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json=["unexpected"])

    with pytest.raises(GraphError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    assert (info.value.code, info.value.http_status, info.value.retryable) == (None, 500, True)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError(f"connect failed for Bearer {TOKEN}"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed"),
    ],
    ids=["connect", "timeout", "protocol"],
)
async def test_transport_errors_are_retryable(
    exc: httpx.TransportError, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with caplog.at_level(logging.DEBUG), pytest.raises(GraphError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    error = info.value
    assert type(error) is GraphError
    assert (error.code, error.http_status, error.retryable) == (None, None, True)
    assert type(exc).__name__ in str(error)
    assert TOKEN not in str(error)
    assert TOKEN not in caplog.text


async def test_mark_read_errors_use_the_same_tree() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json=meta_error(190, "Error validating access token"))

    with pytest.raises(InvalidTokenError):
        await client_with(handler).mark_read(PHONE_NUMBER_ID, TOKEN, "wamid.in")


@pytest.mark.parametrize(
    "payload",
    [{"messaging_product": "whatsapp"}, {"messages": []}, {"messages": [{"id": ""}]}, []],
)
async def test_success_without_wamid_is_an_error(payload: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=payload)

    with pytest.raises(GraphError) as info:
        await client_with(handler).send(PHONE_NUMBER_ID, TOKEN, BODY)
    assert info.value.retryable is False
