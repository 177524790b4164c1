"""The ``tendero`` command: dev, api, worker, migrate, demo, chat, catalog, tenant.

Everything that is neither Temporal nor HTTP lives in ``tendero``; this module is the one
entry point that imports the API and the worker, lazily, inside the commands that run them.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.settings import Settings, get_settings

Sessions = async_sessionmaker[AsyncSession]

# pgserver asks platformdirs for a runtime dir; its fallback warning is noise for a person.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

app = typer.Typer(help="Tendero: durable conversational commerce.", no_args_is_help=True)
catalog_app = typer.Typer(help="Catalog import.", no_args_is_help=True)
tenant_app = typer.Typer(help="Shops (tenants).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(tenant_app, name="tenant")
secrets_app = typer.Typer(help="Secrets at rest.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
console = Console()

ApiOption = Annotated[str, typer.Option("--api", help="URL of the running Tendero API.")]


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal UI port.")] = 8233,
    smtp_port: Annotated[
        int, typer.Option(help="Mail catcher port (unless SMTP_HOST is set).")
    ] = 1025,
) -> None:
    """Run the whole stack: Postgres, Temporal (+UI), migrations, demo shop, worker, API."""
    from tendero.devrun import run_dev

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise typer.Exit(
        run_dev(
            get_settings(),
            port=port,
            temporal_port=temporal_port,
            ui_port=ui_port,
            smtp_port=smtp_port,
        )
    )


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Run the HTTP API (needs DATABASE_URL and TEMPORAL_ADDRESS)."""
    import uvicorn

    from api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(get_settings()), host=host, port=port, log_level="warning")


@app.command()
def worker() -> None:
    """Run a worker (needs DATABASE_URL and TEMPORAL_ADDRESS)."""
    import worker as worker_module

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(worker_module.main(get_settings()))


@app.command()
def migrate() -> None:
    """Apply the database migrations (embedded Postgres unless DATABASE_URL is set)."""
    from tendero.db.migrate import upgrade
    from tendero.devstack import resolve_database

    settings = get_settings()
    url, server = resolve_database(settings.database_url, settings.tendero_data_dir)
    try:
        upgrade(url)
    finally:
        if server:
            server.stop()
    console.print("[green]database is up to date[/green]")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file.")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")],
    fmt: Annotated[str, typer.Option("--format", help="Source format.")] = "woocommerce-csv",
) -> None:
    """Import a product catalog file into a tenant (WooCommerce's product CSV)."""
    from tendero.catalog.parsed import CatalogImportError
    from tendero.catalog.tenants import get_tenant_by_slug
    from tendero.catalog.woocommerce_csv import import_woocommerce_csv

    if fmt != "woocommerce-csv":
        raise typer.BadParameter("only 'woocommerce-csv' is supported", param_hint="--format")
    text = file.read_text(encoding="utf-8-sig")

    async def run(sessions: Sessions) -> None:
        async with sessions() as session, session.begin():
            row = await get_tenant_by_slug(session, tenant)
            if row is None:
                raise typer.BadParameter(f"no tenant {tenant!r}", param_hint="--tenant")
            try:
                report = await import_woocommerce_csv(session, tenant_id=row.id, text=text)
            except CatalogImportError as err:
                console.print(f"[red]import refused, nothing was written:[/red] {err}")
                raise typer.Exit(1) from err
        console.print(report.summary())

    _with_database(get_settings(), run)


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Option(help="URL-safe id, e.g. 'acme'.")],
    name: Annotated[str, typer.Option(help="Shop name shown to customers.")],
    phone_number_id: Annotated[str, typer.Option(help="WhatsApp phone_number_id.")],
    access_token: Annotated[
        str,
        typer.Option(
            help="WhatsApp access token (stored encrypted).", prompt=True, hide_input=True
        ),
    ],
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "USD",
    language: Annotated[str, typer.Option(help="en or es.")] = "en",
    tax_rate: Annotated[str, typer.Option(help="Fraction, e.g. 0.0825.")] = "0",
    delivery_fee: Annotated[str, typer.Option(help="Flat delivery fee.")] = "0",
    payment_method: Annotated[
        list[str] | None, typer.Option(help="Repeat for each accepted payment method.")
    ] = None,
    pickup_address: Annotated[str | None, typer.Option(help="Where pickup orders wait.")] = None,
) -> None:
    """Create a shop with its WhatsApp number."""
    from tendero.catalog.tenants import TenantError, create_tenant

    settings = get_settings()

    async def run(sessions: Sessions) -> None:
        async with sessions() as session, session.begin():
            try:
                row = await create_tenant(
                    session,
                    slug=slug,
                    name=name,
                    currency=currency,
                    language=language,
                    tax_rate=Decimal(tax_rate),
                    delivery_fee=Decimal(delivery_fee),
                    payment_methods=tuple(payment_method or ["cash"]),
                    phone_number_id=phone_number_id,
                    access_token=access_token,
                    secret_key=settings.secret_key_bytes,
                    pickup_address=pickup_address,
                )
            except TenantError as err:
                console.print(f"[red]{err}[/red]")
                raise typer.Exit(1) from err
        console.print(f"created tenant [bold]{row.slug}[/bold] ({row.id})")

    _with_database(settings, run)


@tenant_app.command("assistant")
def tenant_assistant(
    slug: Annotated[str, typer.Argument(help="The shop's slug.")],
    preset: Annotated[
        str | None, typer.Option(help="ecommerce, restaurant, luxfree, healthcare, support.")
    ] = None,
    assistant_name: Annotated[str | None, typer.Option(help="The assistant's name.")] = None,
    language: Annotated[
        list[str] | None, typer.Option(help="Repeat for each language answered (en, es).")
    ] = None,
    locale: Annotated[str | None, typer.Option(help="Money locale, e.g. es_MX.")] = None,
    model: Annotated[str | None, typer.Option(help="Overrides OPENAI_MODEL.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Overrides OPENAI_BASE_URL.")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Overrides OPENAI_API_KEY (stored encrypted).")
    ] = None,
    clear_model: Annotated[
        bool, typer.Option("--clear-model", help="Use the global OPENAI_* settings again.")
    ] = False,
) -> None:
    """Set a shop's assistant: preset, name, languages, money locale, model overrides."""
    from tendero.catalog.tenants import TenantError, configure_assistant, get_tenant_by_slug

    settings = get_settings()

    async def run(sessions: Sessions) -> None:
        async with sessions() as session, session.begin():
            tenant = await get_tenant_by_slug(session, slug)
            if tenant is None:
                console.print(f"[red]no tenant {slug!r}[/red]")
                raise typer.Exit(1)
            try:
                await configure_assistant(
                    session,
                    tenant,
                    secret_key=settings.secret_key_bytes,
                    preset=preset,
                    assistant_name=assistant_name,
                    languages=language,
                    locale=locale,
                    openai_model=model,
                    openai_base_url=base_url,
                    openai_api_key=api_key,
                    clear_model=clear_model,
                )
            except TenantError as err:
                console.print(f"[red]{err}[/red]")
                raise typer.Exit(1) from err
            console.print(
                f"[bold]{tenant.slug}[/bold]: preset {tenant.preset}, languages "
                f"{', '.join(tenant.languages)}, locale {tenant.locale}, model "
                f"{tenant.openai_model or '(global)'}"
                + (" at " + tenant.openai_base_url if tenant.openai_base_url else "")
            )

    _with_database(settings, run)


@app.command()
def chat(
    phone: Annotated[str, typer.Option(help="Your phone number, E.164.")] = "+15551234567",
    api: ApiOption = "http://127.0.0.1:8000",
    tenant: Annotated[
        str | None, typer.Option(help="Shop slug (default: the demo shop's number).")
    ] = None,
    name: Annotated[str, typer.Option(help="Your WhatsApp profile name.")] = "Alex",
) -> None:
    """Chat with the bot as a WhatsApp user (numbers pick list rows and buttons)."""
    from tendero.terminal import run_chat

    settings = get_settings()
    phone_number_id = _phone_number_id(settings, tenant)
    raise typer.Exit(asyncio.run(run_chat(settings, api, phone, name, phone_number_id, console)))


@app.command()
def demo(
    api: ApiOption = "http://127.0.0.1:8000",
    tenant: Annotated[str | None, typer.Option(help="Shop slug (default: demo shop).")] = None,
    phone: Annotated[str, typer.Option(help="The demo customer's phone, E.164.")] = "+15557654321",
) -> None:
    """Run a scripted conversation to a placed order and show where to watch it."""
    from tendero.terminal import run_demo

    settings = get_settings()
    phone_number_id = _phone_number_id(settings, tenant)
    raise typer.Exit(
        asyncio.run(run_demo(settings, api, phone, phone_number_id, console, tenant or "demo"))
    )


@app.command()
def mail(
    last: Annotated[int, typer.Option("--last", min=1, help="How many mails to list.")] = 10,
    all_bodies: Annotated[
        bool,
        typer.Option("--all-bodies", help="Print every listed mail's text, not only the newest."),
    ] = False,
) -> None:
    """Show the mails caught by `tendero dev`'s local mail catcher, newest first."""
    from rich.table import Table
    from rich.text import Text

    from tendero.mail.catcher import list_caught, maildir

    folder = maildir(get_settings().tendero_data_dir)
    caught = list_caught(folder, limit=last)
    if not caught:
        console.print(
            f"no mail caught yet in {folder}/; `tendero dev` runs the catcher on "
            "127.0.0.1:1025 (change it with --smtp-port)"
        )
        return
    # Text(...) everywhere: mails are not rich markup ("[urgent] ..." must show as typed).
    table = Table("received (UTC)", "to", "subject")
    for item in caught:
        received = item.received_at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(received, Text(item.to), Text(item.subject))
    console.print(table)
    for item in caught if all_bodies else caught[:1]:
        console.rule(Text.assemble(item.subject, (f"  ({item.path.name})", "dim")))
        console.print(Text(item.text))


@app.command()
def sync(
    integration: Annotated[str, typer.Option(help="Integration id (see the integrations API).")],
    resource: Annotated[
        str, typer.Option(help="all, categories, products, customers or orders.")
    ] = "all",
    mode: Annotated[str, typer.Option(help="auto, full or incremental.")] = "auto",
) -> None:
    """Sync a connected store now and show progress bars until it ends."""
    import uuid

    from tendero.domain.sync import SyncInput, SyncMode

    settings = get_settings()
    try:
        integration_id = uuid.UUID(integration)
        data_mode = SyncMode(mode)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    if resource not in ("all", "categories", "products", "customers", "orders"):
        raise typer.BadParameter(f"unknown resource {resource!r}")
    outcome: list[int] = []

    async def run(sessions: Sessions) -> None:
        from tendero.db.models import Integration
        from tendero.domain.ids import sync_workflow_id
        from tendero.syncview import follow_sync
        from workflows.client import connect, data_converter
        from workflows.store_sync import StoreSyncWorkflow

        async with sessions() as session:
            row = await session.get(Integration, integration_id)
        if row is None or row.status != "connected":
            console.print(f"[red]No connected integration {integration_id}.[/red]")
            outcome.append(1)
            return
        client = await connect(
            settings.temporal_address or "127.0.0.1:7233",
            settings.temporal_namespace,
            data_converter=data_converter(settings),
        )
        handle = await client.start_workflow(
            StoreSyncWorkflow.run,
            SyncInput(
                integration_id=row.id,
                tenant_id=row.tenant_id,
                resource=resource,
                mode=data_mode,
                trigger="cli",
            ),
            id=sync_workflow_id(row.id, resource),
            task_queue=settings.temporal_task_queue,
        )
        console.print(
            f"Syncing [bold]{row.name}[/bold] ({row.kind}); watch it at "
            f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
            f"/workflows/{handle.id}"
        )
        finished = asyncio.ensure_future(handle.result())
        runs = await follow_sync(sessions, handle.first_execution_run_id or "", finished, console)
        failed = [r for r in runs if r.status == "failed"]
        for r in failed:
            console.print(f"[red]{r.resource}: failed ({r.error})[/red]")
        outcome.append(1 if failed or finished.exception() else 0)

    _with_database(settings, run)
    raise typer.Exit(outcome[0] if outcome else 1)


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under TENDERO_SECRET_KEY (old keys still readable)."""
    from tendero.rotation import rotate_secrets

    settings = get_settings()

    async def run(sessions: Sessions) -> None:
        async with sessions() as session, session.begin():
            report = await rotate_secrets(session, settings.keyring)
        console.print(
            f"{report.rewritten} secrets re-encrypted, {report.current} already under the "
            "current key. The previous keys can now be removed."
        )

    _with_database(settings, run)


user_app = typer.Typer(
    help="Users of the agent API: a shop's admins and agents.", no_args_is_help=True
)
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    slug: Annotated[str, typer.Argument(help="The shop's slug.")],
    email: Annotated[str, typer.Argument(help="The user's e-mail (the login).")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    role: Annotated[str, typer.Option("--role", help="admin or agent.")],
    password: Annotated[
        str | None,
        typer.Option("--password", help="At least 10 characters; asked (hidden) when omitted."),
    ] = None,
) -> None:
    """Create a user of the agent API (/api/v2) in a shop."""
    from tendero.catalog.tenants import get_tenant_by_slug
    from tendero.users import ROLES, UserError, create_user

    if role not in ROLES:
        raise typer.BadParameter(f"use one of {', '.join(ROLES)}", param_hint="--role")
    secret = password
    if secret is None:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = get_settings()

    async def run(sessions: Sessions) -> None:
        async with sessions() as session, session.begin():
            tenant = await get_tenant_by_slug(session, slug)
            if tenant is None:
                console.print(f"[red]no tenant {slug!r}[/red]")
                raise typer.Exit(1)
            try:
                user = await create_user(
                    session,
                    tenant_id=tenant.id,
                    email=email,
                    name=name,
                    role=role,
                    password=secret,
                )
            except UserError as err:
                console.print(f"[red]{err}[/red]")
                raise typer.Exit(1) from err
        console.print(f"created {user.role} [bold]{user.id}[/bold] in shop {slug}")

    _with_database(settings, run)


@user_app.command("list")
def user_list(slug: Annotated[str, typer.Argument(help="The shop's slug.")]) -> None:
    """List a shop's agent API users (inactive ones included)."""
    from rich.table import Table

    from tendero.catalog.tenants import get_tenant_by_slug
    from tendero.users import list_users

    settings = get_settings()

    async def run(sessions: Sessions) -> None:
        async with sessions() as session:
            tenant = await get_tenant_by_slug(session, slug)
            if tenant is None:
                console.print(f"[red]no tenant {slug!r}[/red]")
                raise typer.Exit(1)
            users = await list_users(session, tenant.id)
        table = Table("id", "e-mail", "name", "role", "active", "last login")
        for u in users:
            last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "-"
            table.add_row(str(u.id), u.email, u.name, u.role, "yes" if u.active else "no", last)
        console.print(table)

    _with_database(settings, run)


privacy_app = typer.Typer(help="Privacy (GDPR): retention of conversations.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("retention")
def privacy_retention(
    now: Annotated[
        bool, typer.Option("--now", help="Run the sweep of every shop now and wait for it.")
    ] = False,
) -> None:
    """Show the daily retention schedule, or (--now) run the sweep now and print its counts."""
    from workflows.client import connect, data_converter
    from workflows.schedules import ensure_retention_schedule, start_retention_now

    settings = get_settings()

    async def run() -> int:
        client = await connect(
            settings.temporal_address or "127.0.0.1:7233",
            settings.temporal_namespace,
            data_converter=data_converter(settings),
        )
        if not now:
            handle = await ensure_retention_schedule(
                client,
                hour_utc=settings.retention_hour_utc,
                task_queue=settings.temporal_task_queue,
            )
            described = await handle.describe()
            upcoming = described.info.next_action_times[:1]
            when = upcoming[0].isoformat() if upcoming else "not scheduled"
            console.print(f"Schedule [bold]{handle.id}[/bold]: next sweep at {when}.")
            return 0
        workflow = await start_retention_now(client, task_queue=settings.temporal_task_queue)
        console.print(f"Retention sweep [bold]{workflow.id}[/bold] started; waiting for it.")
        result = await workflow.result()
        deleted = sum(t.conversations for t in result.tenants)
        kept = sum(t.skipped_running for t in result.tenants)
        pruned = sum(t.messages_pruned for t in result.tenants)
        console.print(
            f"{len(result.tenants)} shops swept: {deleted} conversations deleted, {kept} kept "
            f"(still running), {pruned} older messages of kept conversations deleted, "
            f"{result.rate_limit_hits} rate-limit windows dropped."
        )
        return 0

    raise typer.Exit(asyncio.run(run()))


def _phone_number_id(settings: Settings, tenant: str | None) -> str:
    if tenant is None:
        return settings.whatsapp_phone_number_id
    from tendero.catalog.tenants import get_tenant_by_slug

    found: list[str] = []

    async def run(sessions: Sessions) -> None:
        async with sessions() as session:
            row = await get_tenant_by_slug(session, tenant)
            if row is None or row.whatsapp_phone_number_id is None:
                raise typer.BadParameter(f"no tenant {tenant!r} with a WhatsApp number")
            found.append(row.whatsapp_phone_number_id)

    _with_database(settings, run)
    return found[0]


def _with_database(settings: Settings, body: Callable[[Sessions], Awaitable[None]]) -> None:
    """Run ``body(sessions)`` against DATABASE_URL or the embedded Postgres."""
    from tendero.db.engine import make_engine, make_sessionmaker
    from tendero.devstack import resolve_database

    url, server = resolve_database(settings.database_url, settings.tendero_data_dir)

    async def run() -> None:
        engine = make_engine(url, pool_size=2)
        try:
            await body(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    app()
