"""The one way a fake provider is served: an ASGI app under uvicorn in a background thread.

The thread has its own event loop, so a fake serves sync code (bench scripts) and async
tests alike without ever blocking the caller's loop. Subclasses set ``_app`` and ``_name``
and may hook ``_on_start``/``_on_stop``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import ClassVar, Self

import uvicorn
from starlette.types import ASGIApp


class ThreadedServer:
    """Start, stop, URL and context managers of a fake served on 127.0.0.1."""

    _name: ClassVar[str] = "fake"
    _app: ASGIApp
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _port: int | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; only valid once started."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    def _on_start(self) -> None:
        """Called before the server starts."""

    def _on_stop(self) -> None:
        """Called before the server is asked to exit (wake hanging handlers here)."""

    def start(self, timeout_s: float = 10.0) -> None:
        """Serve on a free port in a background thread; return once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        # Binding here (not in uvicorn) tells us the port up front with no race for it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self._app, host="127.0.0.1", log_level="warning", lifespan="off", ws="none"
        )
        server = uvicorn.Server(config)
        self._on_start()
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self._name, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"{type(self).__name__} failed to start")
            time.sleep(0.01)
        self._server, self._thread, self._port = server, thread, sock.getsockname()[1]

    def stop(self) -> None:
        """Shut the server down and wait for its thread; safe to call twice."""
        if self._server is None or self._thread is None:
            return
        self._on_stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = self._port = None

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

    async def __aenter__(self) -> Self:
        # start()/stop() block briefly; a worker thread keeps the caller's event loop free.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
