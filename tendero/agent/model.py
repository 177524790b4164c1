"""Access to the language model: the ``openai`` SDK's chat completions with tool calling.

Works against OpenAI, Azure OpenAI's v1 endpoint or any OpenAI-compatible server (vLLM,
Ollama, llama.cpp) through ``OPENAI_BASE_URL``; a tenant may override the global model,
base URL and key. The SDK's own retries are off (``max_retries=0``): the model call is a
Temporal activity, and Temporal retries it by the error class raised here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from tendero.crypto import Keyring, decrypt_secret
from tendero.db.models import Tenant
from tendero.errors import ModelError, ModelRejected, ModelUnavailable
from tendero.settings import Settings

# Statuses worth a retry besides 429 and 5xx: request timeout and conflict (both transient).
_RETRYABLE_STATUSES = {408, 409, 429}


@dataclass(frozen=True)
class ModelConfig:
    """Which model to call and how; ``api_key`` is kept out of ``repr``."""

    model: str
    base_url: str | None
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class ToolCall:
    """One tool call asked for by the model (``arguments`` is the raw JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelReply:
    """The model's answer to one request, with the provider's token counts."""

    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int


def resolve_model_config(
    tenant: Tenant, settings: Settings, secret_key: bytes | Keyring
) -> ModelConfig | None:
    """The tenant's model settings over the global ``OPENAI_*`` ones.

    Returns:
        ``None`` when no model is configured: no model name, or neither a key nor a base
        URL (the default endpoint, api.openai.com, needs a key). A local server reached
        through a base URL may need no key; the SDK still sends a placeholder. The global
        ``OPENAI_API_KEY`` is only ever sent to the global endpoint: a shop that points at
        its own server uses its own key or none.
    """
    model = tenant.openai_model or settings.openai_model
    base_url = tenant.openai_base_url or settings.openai_base_url
    key: str | None = None
    if tenant.openai_api_key_enc:
        key = decrypt_secret(
            tenant.openai_api_key_enc, secret_key, context=f"{tenant.slug}:openai".encode()
        )
    elif settings.openai_api_key is not None and not tenant.openai_base_url:
        key = settings.openai_api_key.get_secret_value()
    if not model or (key is None and base_url is None):
        return None
    return ModelConfig(model=model, base_url=base_url, api_key=key or "no-key")


class ModelClients:
    """One ``AsyncOpenAI`` per (base URL, key), reused across calls (connection pooling).

    Args:
        timeout_s: per-request timeout in seconds.
    """

    def __init__(self, *, timeout_s: float) -> None:
        """Start with no clients; they are made on first use."""
        self._timeout_s = timeout_s
        self._clients: dict[tuple[str | None, str], AsyncOpenAI] = {}

    def client(self, config: ModelConfig) -> AsyncOpenAI:
        """The client for ``config`` (created once)."""
        fingerprint = hashlib.sha256(config.api_key.encode()).hexdigest()
        cache_key = (config.base_url, fingerprint)
        found = self._clients.get(cache_key)
        if found is None:
            found = AsyncOpenAI(
                api_key=config.api_key,
                base_url=config.base_url,
                timeout=self._timeout_s,
                max_retries=0,
            )
            self._clients[cache_key] = found
        return found

    async def close(self) -> None:
        """Close every client's connection pool."""
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def chat(
        self,
        config: ModelConfig,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: Literal["auto", "none"] = "auto",
    ) -> ModelReply:
        """One chat completion.

        Args:
            config: the model to call.
            messages: chat messages in the OpenAI format.
            tools: function tool definitions (``{"type": "function", "function": ...}``).
            tool_choice: ``"none"`` forces a text answer (the last round of a turn).

        Returns:
            The first choice's content and tool calls, and the usage figures.

        Raises:
            ModelUnavailable: 429, 5xx, 408/409, timeout or connection failure (retry).
            ModelRejected: any other 4xx, e.g. a wrong key (401) or unknown model (404).
        """
        extra: dict[str, Any] = {}
        if tools:
            extra = {"tools": list(tools), "tool_choice": tool_choice}
        started = time.perf_counter()
        try:
            completion = await self.client(config).chat.completions.create(
                model=config.model,
                messages=cast("list[ChatCompletionMessageParam]", list(messages)),
                **extra,
            )
        # "from None": the SDK's exception text carries the provider's error body (it can
        # echo the key's last characters or the request); it must not reach logs or history.
        except openai.APITimeoutError:
            raise ModelUnavailable("the model timed out") from None
        except openai.APIConnectionError:
            raise ModelUnavailable("the model server could not be reached") from None
        except openai.APIStatusError as err:
            raise _status_error(err) from None
        latency_ms = int((time.perf_counter() - started) * 1000)
        if not completion.choices:
            raise ModelUnavailable("the model returned no choices")
        message = completion.choices[0].message
        calls = tuple(
            ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments or "")
            for call in (message.tool_calls or [])
            if call.type == "function"
        )
        usage = completion.usage
        return ModelReply(
            content=message.content,
            tool_calls=calls,
            finish_reason=completion.choices[0].finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=latency_ms,
        )


def _status_error(err: openai.APIStatusError) -> ModelError:
    status = err.status_code
    # The provider's message may echo request content; keep only the status in ours.
    if status >= 500 or status in _RETRYABLE_STATUSES:
        return ModelUnavailable(
            f"the model answered HTTP {status}",
            status=status,
            retry_after_s=_retry_after(err.response.headers.get("retry-after")),
        )
    return ModelRejected(f"the model refused the request (HTTP {status})", status=status)


def _retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None
