"""``tendero dev``: the whole stack in one terminal, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from tendero.devseed import DemoLogins
from tendero.devstack import (
    DevStackError,
    EmbeddedPostgres,
    TemporalDevServer,
    child_env,
    resolve_database,
    wait_for_port,
)
from tendero.mail.catcher import MailCatcher, find_free_port, maildir
from tendero.settings import Settings

console = Console()


async def _prepare(
    database_url: str, temporal_address: str, settings: Settings
) -> tuple[str, DemoLogins]:
    """Register search attributes, seed the demo shop; its name and the demo logins."""
    from tendero.catalog.tenants import seed_demo_shop
    from tendero.db.engine import make_engine, make_sessionmaker
    from tendero.devseed import seed_demo_support
    from workflows.client import connect, data_converter, ensure_search_attributes

    client = await connect(
        temporal_address, settings.temporal_namespace, data_converter=data_converter(settings)
    )
    await ensure_search_attributes(client)
    engine = make_engine(database_url, pool_size=2)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            tenant = await seed_demo_shop(session, settings=settings)
            return tenant.name, await seed_demo_support(session, tenant)
    finally:
        await engine.dispose()


def _tendero_command() -> str:
    """How the person should call ``tendero`` from the project folder."""
    exe = Path(sys.executable).parent / "tendero"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev(
    settings: Settings, *, port: int, temporal_port: int, ui_port: int, smtp_port: int = 1025
) -> int:
    """Start Postgres, Temporal, worker and API; block until Ctrl-C; stop all of them.

    Without ``SMTP_HOST``, a mail catcher listens on ``smtp_port`` (another free port when
    that one is busy) and the worker's mails land in ``{data_dir}/mail`` (``tendero mail``).

    SIGTERM stops it like Ctrl-C (and Ctrl-C works even when started from a script that
    ignores SIGINT).

    Returns:
        The process exit code (0 after Ctrl-C, 1 when something failed to start or died).
    """
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = settings.tendero_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    catcher: MailCatcher | None = None
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    code = 0
    try:
        with console.status("starting PostgreSQL…"):
            database_url, postgres = resolve_database(settings.database_url, data_dir)
            from tendero.db.migrate import upgrade

            upgrade(database_url)
        if settings.temporal_address is None:
            with console.status("starting Temporal…"):
                temporal = TemporalDevServer(
                    data_dir,
                    port=temporal_port,
                    ui_port=ui_port,
                    codec_endpoint=f"http://127.0.0.1:{port}/codec",
                )
                temporal_address = temporal.start()
            ui_url = f"http://127.0.0.1:{ui_port}"
        else:
            temporal_address, ui_url = settings.temporal_address, settings.temporal_ui_url
        with console.status("preparing the demo shop…"):
            shop, logins = asyncio.run(_prepare(database_url, temporal_address, settings))

        overrides = {"DATABASE_URL": database_url, "TEMPORAL_ADDRESS": temporal_address}
        if temporal is not None and "temporal_ui_origin" not in settings.model_fields_set:
            # The embedded UI may be on another port than TEMPORAL_UI_URL says: let it call /codec.
            overrides["TEMPORAL_UI_ORIGIN"] = ui_url
        if "whatsapp_graph_url" not in settings.model_fields_set:
            # No real Graph API configured: replies go to the built-in sink `tendero chat` reads.
            overrides["WHATSAPP_GRAPH_URL"] = f"http://127.0.0.1:{port}/_sink"
            overrides["TENDERO_SINK_ENABLED"] = "true"
        mail_line = ""
        if "smtp_host" not in settings.model_fields_set:
            # No real SMTP server configured: mails go to the local catcher `tendero mail` reads.
            catcher = MailCatcher(maildir(data_dir), port=find_free_port(smtp_port))
            try:
                catcher.start()
            except OSError as err:
                catcher = None
                raise DevStackError(f"the mail catcher could not start: {err}") from err
            overrides.update(
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(catcher.port),
                SMTP_STARTTLS="false",
                SMTP_SSL="false",
            )
            mail_line = (
                f"  Mail catcher smtp://127.0.0.1:{catcher.port}   "
                f"(read them: {_tendero_command()} mail)\n"
            )
        env = child_env(**overrides)
        log_dir = data_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        for name, args in (
            ("worker", ["worker"]),
            ("api", ["api", "--port", str(port)]),
        ):
            log = (log_dir / f"{name}.log").open("ab")
            process = subprocess.Popen(
                [sys.executable, "-m", "tendero.cli", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            children.append((name, process))
        if not wait_for_port(port, 30):
            raise DevStackError(f"the API did not start; see {log_dir / 'api.log'}")
        tendero = _tendero_command()
        console.print(
            f"\n[bold green]Tendero is running[/bold green] ({shop})\n"
            f"  API          http://127.0.0.1:{port}   (OpenAPI docs: /docs)\n"
            f"  Webhook      http://127.0.0.1:{port}/webhooks/whatsapp\n"
            f"  Temporal UI  {ui_url}   (decrypted payloads: sign in at "
            f"http://127.0.0.1:{port}/codec/login with TENDERO_ADMIN_TOKEN; README)\n"
            f"{mail_line}"
            f"  Data         {data_dir}/   (logs in {log_dir}/)\n\n"
            f"In another terminal:\n"
            f"  {tendero} demo                          a scripted order, end to end\n"
            f"  {tendero} chat --phone +15551234567     chat as a WhatsApp customer\n"
            f"  {tendero} mail                          read the caught e-mails\n\n"
            f"Try: in the chat type [bold]{logins.customer_email}[/bold], read the code with "
            f"`{tendero} mail`, type it: {logins.order_number} is shown.\n"
            f"Agent API: POST /api/v2/auth/token with tenant [bold]demo[/bold], e-mail "
            f"[bold]{logins.agent_email}[/bold], password [bold]{logins.agent_password}[/bold] "
            "(README: Support tickets).\n\n"
            "Press Ctrl-C to stop."
        )
        while True:
            for name, process in children:
                if process.poll() is not None:
                    console.print(f"[red]{name} exited ({process.returncode}); see {log_dir}[/red]")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("\nstopping…")
    except DevStackError as err:
        console.print(f"[red]{err}[/red]")
        code = 1
    finally:
        for _, process in reversed(children):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for _, process in reversed(children):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if catcher is not None:
            catcher.stop()
        if temporal is not None:
            temporal.stop()
        if postgres is not None:
            postgres.stop()
    console.print("stopped.")
    return code
