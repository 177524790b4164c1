"""The scripted model server, driven by the real OpenAI SDK over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.model_server import ScriptedModel, Step, call, dynamic, fail, hang, say

MESSAGES: list[Any] = [{"role": "user", "content": "hello there model"}]


@pytest.fixture
async def model() -> AsyncIterator[ScriptedModel]:
    async with ScriptedModel() as server:
        yield server


@pytest.fixture
async def client(model: ScriptedModel) -> AsyncIterator[Callable[..., openai.AsyncOpenAI]]:
    """Make real SDK clients for ``model`` (no retries) and close them afterwards."""
    made: list[openai.AsyncOpenAI] = []

    def make(model: ScriptedModel, **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("api_key", model.api_key)
        made.append(openai.AsyncOpenAI(base_url=model.base_url, max_retries=0, **kwargs))
        return made[-1]

    yield make
    for sdk in made:
        await sdk.close()


async def test_say_returns_content_and_usage(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    model.play(say("We have green tea"))
    resp = await client(model).chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    assert resp.model == "gpt-test"
    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "We have green tea"
    assert choice.message.tool_calls is None
    assert resp.usage is not None
    # 3 prompt words, no tools (len("[]") // 4 == 0); 4 words answered.
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (3, 4)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + 4
    assert model.remaining == 0


async def test_call_sends_dict_and_raw_arguments(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    model.play(call(("search_products", {"query": "té verde"}), ("add_to_cart", '{"id": 4')))
    tools = [{"type": "function", "function": {"name": "search_products", "parameters": {}}}]
    resp = await client(model).chat.completions.create(model="m", messages=MESSAGES, tools=tools)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 2
    assert [c.function.name for c in calls] == ["search_products", "add_to_cart"]
    assert json.loads(calls[0].function.arguments) == {"query": "té verde"}
    assert calls[1].function.arguments == '{"id": 4'
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 3 + len(json.dumps(tools)) // 4
    assert resp.usage.completion_tokens == sum(len(c.function.arguments) // 4 + 1 for c in calls)


async def test_wrong_key_is_rejected_without_consuming_a_step(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    model.play(say("hi"))
    with pytest.raises(openai.AuthenticationError) as info:
        await client(model, api_key="wrong").chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.code == "invalid_api_key"
    assert model.remaining == 1
    assert model.auth_headers == ["Bearer wrong"]
    assert len(model.requests) == 1


async def test_fail_maps_to_sdk_errors(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    model.play(fail(500), fail(429, "slow down", code="rate_limit_exceeded", type_="requests"))
    c = client(model)
    with pytest.raises(openai.InternalServerError):
        await c.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        await c.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.body == {
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }


async def test_hang_times_out_the_client_but_not_other_requests(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    model.play(hang(2), say("still here"))
    with pytest.raises(openai.APITimeoutError):
        await client(model, timeout=0.3).chat.completions.create(model="m", messages=MESSAGES)
    # The hang is still sleeping on the server; the next request must not queue behind it.
    started = time.monotonic()
    resp = await client(model).chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == "still here"
    assert time.monotonic() - started < 1


async def test_dynamic_sees_the_request(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    def next_step(body: dict[str, Any]) -> Step:
        product_id = json.loads(body["messages"][-1]["content"])["id"]
        return call(("add_to_cart", {"product_id": product_id}))

    model.play(dynamic(next_step))
    messages: list[Any] = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_x",
                    "type": "function",
                    "function": {"name": "search_products", "arguments": '{"query": "tea"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_x", "content": '{"id": "p-42"}'},
    ]
    resp = await client(model).chat.completions.create(model="m", messages=messages)
    calls = resp.choices[0].message.tool_calls
    assert calls is not None
    assert json.loads(calls[0].function.arguments) == {"product_id": "p-42"}
    assert resp.usage is not None
    # 3 user words + 2 argument words + 2 tool-result words.
    assert resp.usage.prompt_tokens == 7


async def test_exhausted_script_answers_500(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        await client(model).chat.completions.create(model="m", messages=MESSAGES)
    assert "script exhausted" in str(info.value)


async def test_requests_are_recorded_in_order(
    model: ScriptedModel, client: Callable[..., openai.AsyncOpenAI]
) -> None:
    model.play(say("one"), fail(503), say("three"))
    c = client(model)
    for n in range(3):
        try:
            await c.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"msg {n}"}]
            )
        except openai.APIStatusError:
            pass
    assert [r["messages"][0]["content"] for r in model.requests] == ["msg 0", "msg 1", "msg 2"]
    assert model.auth_headers == [f"Bearer {model.api_key}"] * 3
    assert model.remaining == 0


def test_sync_use_with_latency() -> None:
    with ScriptedModel(latency_s=0.2) as model:
        model.play(say("hi"))
        started = time.monotonic()
        resp = httpx.post(
            f"{model.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {model.api_key}"},
            json={"model": "m", "messages": MESSAGES},
        )
        assert time.monotonic() - started >= 0.2
        assert resp.status_code == 200
        assert resp.json()["choices"][0]["message"] == {"role": "assistant", "content": "hi"}
    with pytest.raises(RuntimeError):
        _ = model.base_url
