"""A real SMTP server for tests: aiosmtpd in its own thread on a free 127.0.0.1 port.

``with SmtpSink() as smtp:`` gives ``smtp.port`` and ``smtp.messages`` (parsed with
``email.policy.default``); ``smtp.refuse(address)`` makes RCPT TO for that address answer
``550 5.1.1 user unknown``. Pass ``port=`` to come up on a port a test chose earlier (a
server that was "down"), and ``tls_context=`` to offer STARTTLS.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self._sink.refused:
            return "550 5.1.1 user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._sink.lock:
            self._sink.messages.append(message)
            self._sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._sink.tls_used.append(session.ssl is not None)
        return "250 Message accepted for delivery"


class SmtpSink:
    """Collects every message it accepts; see the module docstring."""

    def __init__(self, port: int | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.tls_used: list[bool] = []
        self.refused: set[str] = set()
        self.lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True, **kwargs
        )
        self._started = False

    def refuse(self, address: str) -> None:
        """Answer ``550 5.1.1 user unknown`` to RCPT TO for ``address``."""
        self.refused.add(address.lower())

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[EmailMessage]:
        """Block until ``count`` messages arrived; return them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mails, got {len(self.messages)}")

    def start(self) -> None:
        self._controller.start()
        self._started = True

    def stop(self) -> None:
        if self._started:
            self._controller.stop()
            self._started = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
