"""A scripted OpenAI-compatible chat-completions server that plays "the model" in tests.

The real ``openai`` SDK talks to it over real HTTP, so retries, timeouts, auth errors and
tool-call parsing are exercised exactly as in production. uvicorn runs in a background thread
with its own event loop, so the server serves sync code (bench scripts) and async tests alike
without ever blocking the caller's loop.

Example::

    with ScriptedModel() as model:
        model.play(call(("search_products", {"query": "tea"})), say("We have green tea."))
        client = AsyncOpenAI(base_url=model.base_url, api_key=model.api_key, max_retries=0)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer

# Module-wide so tool-call ids stay unique across servers and tests, as OpenAI's do.
_call_ids = itertools.count(1)


@dataclass(frozen=True)
class ToolCall:
    """One function call the scripted model makes; ``arguments`` is sent verbatim."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Say:
    """Answer with a plain assistant message."""

    text: str


@dataclass(frozen=True)
class Call:
    """Answer with one or more tool calls."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Fail:
    """Answer with an OpenAI-style HTTP error."""

    status: int
    message: str
    code: str | None
    type_: str


@dataclass(frozen=True)
class Hang:
    """Stall for ``seconds`` and then answer HTTP 500, so impatient clients time out."""

    seconds: float


@dataclass(frozen=True)
class Dynamic:
    """Decide the answer at request time from the request body."""

    fn: Callable[[dict[str, Any]], Step]


Step = Say | Call | Fail | Hang | Dynamic


def say(text: str) -> Say:
    """Script an assistant message with ``content=text`` and ``finish_reason="stop"``."""
    return Say(text)


def call(*calls: tuple[str, dict[str, Any] | str]) -> Call:
    """Script tool calls, ``finish_reason="tool_calls"``.

    Args:
        *calls: ``(name, arguments)`` pairs. Dict arguments are JSON-encoded; strings are sent
            as-is so tests can send malformed JSON.

    Returns:
        The step.
    """
    if not calls:
        raise ValueError("call() needs at least one (name, arguments) pair")
    return Call(
        tuple(
            ToolCall(
                f"call_{next(_call_ids)}", name, args if isinstance(args, str) else json.dumps(args)
            )
            for name, args in calls
        )
    )


def fail(
    status: int,
    message: str = "The server had an error while processing your request.",
    code: str | None = None,
    type_: str = "server_error",
) -> Fail:
    """Script an HTTP ``status`` answer with OpenAI's error body."""
    return Fail(status, message, code, type_)


def hang(seconds: float) -> Hang:
    """Script a stall of ``seconds`` (other requests still served) followed by HTTP 500."""
    return Hang(seconds)


def dynamic(fn: Callable[[dict[str, Any]], Step]) -> Dynamic:
    """Script a step chosen by ``fn(request_body)`` when the request arrives."""
    return Dynamic(fn)


def _error(status: int, message: str, type_: str, code: str | None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def _words(text: object) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def _prompt_tokens(body: dict[str, Any]) -> int:
    # A deterministic stand-in for a tokenizer: stable across runs, grows with the prompt.
    words = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            words += sum(_words(part.get("text")) for part in content if isinstance(part, dict))
        else:
            words += _words(content)
        for tool_call in message.get("tool_calls") or []:
            words += _words((tool_call.get("function") or {}).get("arguments"))
    return max(1, words + len(json.dumps(body.get("tools", []))) // 4)


class ScriptedModel(ThreadedServer):
    """OpenAI-compatible /v1/chat/completions server on 127.0.0.1 that answers from a script.

    Attributes:
        api_key: The only key accepted as ``Authorization: Bearer <key>``.
        latency_s: Fixed delay before every authorized answer (for benchmarks).
        requests: Every parsed request body, in arrival order, including rejected ones.
        auth_headers: The ``Authorization`` header of each request, same order as ``requests``.
    """

    _name = "scripted-model"

    def __init__(self, *, api_key: str = "test-model-key", latency_s: float = 0.0) -> None:
        """Create a stopped server; call :meth:`start` or use it as a context manager."""
        self.api_key = api_key
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        # Requests are handled on the server thread while tests play() and read from theirs.
        self._lock = threading.Lock()
        self._script: deque[Step] = deque()
        self._completion_ids = itertools.count(1)
        self._stopping = threading.Event()
        self._app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the OpenAI client; only valid once started."""
        return f"{self.url}/v1"

    def _on_start(self) -> None:
        self._stopping.clear()

    def _on_stop(self) -> None:
        # Wake hanging handlers first: uvicorn's graceful shutdown waits for in-flight requests.
        self._stopping.set()

    @property
    def remaining(self) -> int:
        """How many scripted steps have not been consumed yet."""
        with self._lock:
            return len(self._script)

    def play(self, *steps: Step) -> None:
        """Append ``steps`` to the script; each authorized request consumes one."""
        with self._lock:
            self._script.extend(steps)

    async def _chat(self, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        auth = request.headers.get("authorization", "")
        with self._lock:
            self.requests.append(body if isinstance(body, dict) else {})
            self.auth_headers.append(auth)
        if auth != f"Bearer {self.api_key}":
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if not isinstance(body, dict):
            return _error(400, "Request body is not a JSON object.", "invalid_request_error", None)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        with self._lock:
            step = self._script.popleft() if self._script else None
        if step is None:
            return _error(500, "script exhausted", "server_error", None)
        while isinstance(step, Dynamic):
            try:
                step = step.fn(body)
            except Exception as exc:
                # Surface a broken test callback to the client instead of a bare 500 page.
                return _error(500, f"dynamic step raised {exc!r}", "server_error", None)
        return await self._answer(step, body)

    async def _answer(self, step: Step, body: dict[str, Any]) -> JSONResponse:
        if isinstance(step, Fail):
            return _error(step.status, step.message, step.type_, step.code)
        if isinstance(step, Hang):
            # Sleep in slices so stop() is never held up by a long hang.
            deadline = time.monotonic() + step.seconds
            while not self._stopping.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            return _error(500, "hang elapsed", "server_error", None)
        message: dict[str, Any] = {"role": "assistant"}
        if isinstance(step, Say):
            message["content"] = step.text
            finish_reason, completion = "stop", _words(step.text)
        elif isinstance(step, Call):
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in step.calls
            ]
            finish_reason = "tool_calls"
            completion = sum(len(c.arguments) // 4 + 1 for c in step.calls)
        else:
            raise TypeError(f"not a script step: {step!r}")
        prompt, completion = _prompt_tokens(body), max(1, completion)
        return JSONResponse(
            {
                "id": f"chatcmpl-{next(self._completion_ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )
