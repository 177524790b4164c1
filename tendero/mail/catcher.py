"""The dev mail catcher: an SMTP server on 127.0.0.1 that keeps every mail as an ``.eml`` file.

``tendero dev`` points the worker's ``SMTP_HOST`` at it; ``tendero mail`` reads the files.
Files are named ``{UTC timestamp}-{counter}.eml`` so that name order is arrival order.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import logging
import os
import socket
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from pydantic import BaseModel

from tendero.devstack import port_is_free

_STAMP = "%Y%m%dT%H%M%S.%fZ"


def maildir(data_dir: Path) -> Path:
    """Where the catcher of ``tendero dev`` keeps mails: ``{data_dir}/mail``."""
    return data_dir / "mail"


def find_free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` when nothing listens there, else a port the system picks as free."""
    if port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class _SaveHandler:
    """aiosmtpd handler: writes each message's bytes to a new file, atomically."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        with self._lock:
            stamp = datetime.now(UTC).strftime(_STAMP)
            name = f"{stamp}-{next(self._counter):06d}.eml"
        self._directory.mkdir(parents=True, exist_ok=True)
        partial = self._directory / f".{name}.part"
        partial.write_bytes(data)
        # The rename makes the file appear whole: `tendero mail` never reads half a mail.
        os.replace(partial, self._directory / name)
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server on ``host:port`` (in its own thread) saving mails under ``directory``.

    Args:
        directory: where ``.eml`` files go (created when missing).
        port: the port to listen on (must be free; see ``find_free_port``).
        host: the interface; loopback only by default.

    Use ``start()``/``stop()`` or ``with MailCatcher(...) as catcher:``.
    """

    def __init__(self, directory: Path, port: int = 1025, host: str = "127.0.0.1") -> None:
        """Prepare; nothing listens until ``start``."""
        self.directory = directory
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen; returns once the server accepts connections.

        Raises:
            RuntimeError: already started.
            OSError: the port is taken.
        """
        if self._controller is not None:
            raise RuntimeError("the mail catcher is already started")
        self.directory.mkdir(parents=True, exist_ok=True)
        # aiosmtpd logs every received line at DEBUG ("mail.log"): codes must not reach logs.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        controller = Controller(
            _SaveHandler(self.directory),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        """Start."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        self.stop()


class CaughtMail(BaseModel):
    """A caught mail, as ``tendero mail`` shows it.

    Attributes:
        received_at: arrival time (aware UTC, from the file name).
        sender: the ``From`` header.
        to: the ``To`` header.
        subject: the ``Subject`` header (decoded).
        text: the text/plain body ("" when the mail has none).
        path: the ``.eml`` file.
    """

    received_at: datetime
    sender: str
    to: str
    subject: str
    text: str
    path: Path


def _received_at(path: Path) -> datetime:
    try:
        return datetime.strptime(path.name.split("-")[0], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def read_caught(path: Path) -> CaughtMail:
    """Parse one ``.eml`` file."""
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # guaranteed by policy.default
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return CaughtMail(
        received_at=_received_at(path),
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        # SMTP carries CRLF line ends; a terminal wants LF.
        text=str(text).replace("\r\n", "\n"),
        path=path,
    )


def list_caught(maildir: Path, limit: int = 20) -> list[CaughtMail]:
    """The ``limit`` most recent caught mails, newest first; ``[]`` when there are none."""
    if not maildir.is_dir():
        return []
    paths = sorted(maildir.glob("*.eml"), key=lambda path: path.name, reverse=True)
    return [read_caught(path) for path in paths[: max(limit, 0)]]
