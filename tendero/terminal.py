"""``tendero chat`` and ``tendero demo``: a WhatsApp customer in the terminal."""

from __future__ import annotations

import re
from urllib.parse import quote

from rich.console import Console
from sqlalchemy import select

from tendero.channels.whatsapp.chat_client import (
    BotReply,
    ChatClient,
    Choice,
    SinkUnavailableError,
)
from tendero.settings import Settings

ORDER_NUMBER = re.compile(r"\b([A-Z]{2,8}-\d{4}-\d{3,6})\b")


class DemoError(RuntimeError):
    """The scripted conversation did not go as expected (message says where)."""


def show(console: Console, replies: list[BotReply]) -> list[Choice]:
    """Print the bot's replies; returns the choices of the last one, numbered from 1."""
    choices: list[Choice] = []
    for reply in replies:
        console.print(f"[bold cyan]bot[/bold cyan]  {reply.text}")
        choices = reply.choices
        for number, choice in enumerate(choices, start=1):
            extra = f" [dim]({choice.description})[/dim]" if choice.description else ""
            console.print(f"      [yellow]{number}[/yellow]. {choice.title}{extra}")
    return choices


async def run_chat(
    settings: Settings, api: str, phone: str, name: str, phone_number_id: str, console: Console
) -> int:
    """Interactive loop: a line of text is a message; a number taps the choice it names."""
    digits = phone.lstrip("+")
    secret = settings.whatsapp_app_secret.get_secret_value()
    try:
        async with ChatClient(api, secret, phone_number_id, digits, name) as chat:
            console.print(
                "Type a message (try [bold]hi[/bold]); a number picks an option; "
                "[bold]/location LAT LON ADDRESS[/bold] shares a location; Ctrl-D quits."
            )
            choices: list[Choice] = []
            while True:
                try:
                    line = console.input("[bold green]you[/bold green]  ").strip()
                except EOFError:
                    return 0
                if not line:
                    continue
                if line.isdigit() and 1 <= int(line) <= len(choices):
                    await chat.tap(choices[int(line) - 1])
                elif line.startswith("/location"):
                    parts = line.split(maxsplit=3)
                    if len(parts) < 4:
                        console.print("usage: /location LAT LON ADDRESS")
                        continue
                    await chat.share_location(float(parts[1]), float(parts[2]), parts[3])
                else:
                    await chat.say(line)
                replies = await chat.replies()
                if not replies:
                    console.print("[dim](no reply yet: is `tendero dev` running its worker?)[/dim]")
                choices = show(console, replies) or choices
    except SinkUnavailableError as err:
        console.print(f"[red]{err}[/red]")
        return 1


class _Script:
    def __init__(self, chat: ChatClient, console: Console) -> None:
        self.chat = chat
        self.console = console

    async def say(self, text: str) -> list[BotReply]:
        self.console.print(f"[bold green]you[/bold green]  {text}")
        await self.chat.say(text)
        return await self._answer()

    async def tap(self, choice: Choice) -> list[BotReply]:
        self.console.print(f"[bold green]you[/bold green]  [tap] {choice.title}")
        await self.chat.tap(choice)
        return await self._answer()

    async def _answer(self) -> list[BotReply]:
        replies = await self.chat.replies()
        if not replies:
            raise DemoError("the bot did not answer within 15 s (is the worker running?)")
        show(self.console, replies)
        return replies


def _choice(replies: list[BotReply], prefix: str) -> Choice:
    for reply in reversed(replies):
        for choice in reply.choices:
            if choice.id.startswith(prefix):
                return choice
    raise DemoError(f"expected an option {prefix!r}, got {[r.text for r in replies]}")


async def _add_a_product(script: _Script) -> None:
    """Browse categories and products; add one unit, preferring a product with variants."""
    fallback: Choice | None = None
    categories = [
        c for c in _all_choices(await script.tap(_menu_browse())) if c.id.startswith("cat:")
    ]
    for category in categories[:4]:
        products = _all_choices(await script.tap(category))
        for product in [p for p in products if p.id.startswith("prod:")][:4]:
            if product.description and "Out of stock" in product.description:
                continue
            detail = await script.tap(product)
            add = next((c for c in _all_choices(detail) if c.id.startswith("add:")), None)
            if add is None:
                continue
            picked = await script.tap(add)
            options = _all_choices(picked)
            variants = [
                c
                for c in options
                if c.id.startswith("var:") and "out of stock" not in (c.description or "")
            ]
            if variants:
                quantity = await script.tap(variants[0])
                await script.tap(_choice(quantity, "qty:"))
                return
            fallback = fallback or next((c for c in options if c.id.startswith("qty:")), None)
    if fallback is None:
        raise DemoError("no product in stock was found in the catalog")
    await script.tap(fallback)


def _menu_browse() -> Choice:
    return Choice(id="browse", title="Browse products", description=None, is_list=False)


def _all_choices(replies: list[BotReply]) -> list[Choice]:
    return [choice for reply in replies for choice in reply.choices]


async def run_demo(
    settings: Settings,
    api: str,
    phone: str,
    phone_number_id: str,
    console: Console,
    tenant_slug: str,
) -> int:
    """The scripted order: browse, variant, cart, checkout, CONFIRM, "where is my order"."""
    digits = phone.lstrip("+")
    secret = settings.whatsapp_app_secret.get_secret_value()
    try:
        async with ChatClient(api, secret, phone_number_id, digits, "Demo Customer") as chat:
            script = _Script(chat, console)
            await script.say("hi")
            await _add_a_product(script)
            await script.tap(Choice("cart", "My cart", None, False))
            replies = await script.tap(Choice("checkout", "Checkout", None, False))
            replies = await script.tap(_choice(replies, "ful:delivery"))
            replies = await script.say("221B Baker Street, London NW1 6XE")
            replies = await script.tap(_choice(replies, "pay:"))
            replies = await script.say("CONFIRM")
            found = ORDER_NUMBER.search(" ".join(r.text for r in replies))
            if found is None:
                raise DemoError("no order number in the confirmation")
            number = found.group(1)
            await script.say(f"where is my order {number}")
    except (DemoError, SinkUnavailableError) as err:
        console.print(f"[red]demo failed: {err}[/red]")
        return 1
    await _show_order(settings, tenant_slug, number, console)
    return 0


async def _show_order(settings: Settings, tenant_slug: str, number: str, console: Console) -> None:
    from tendero.db.engine import make_engine, make_sessionmaker
    from tendero.db.models import Conversation, Order, OrderItem, Tenant
    from tendero.devstack import resolve_database

    url, server = resolve_database(settings.database_url, settings.tendero_data_dir)
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            order, conversation = (
                await session.execute(
                    select(Order, Conversation)
                    .join(Tenant, Tenant.id == Order.tenant_id)
                    .join(
                        Conversation,
                        (Conversation.customer_id == Order.customer_id)
                        & (Conversation.tenant_id == Order.tenant_id),
                    )
                    .where(Tenant.slug == tenant_slug, Order.number == number)
                )
            ).one()
            items = (
                await session.execute(select(OrderItem).where(OrderItem.order_id == order.id))
            ).scalars()
            console.print(
                f"\n[bold]Order row[/bold]  {order.number}  status={order.status}  "
                f"total={order.total} {order.currency}  fulfilment={order.fulfilment}  "
                f"payment={order.payment_method}  created_at={order.created_at:%Y-%m-%d %H:%M:%S}"
            )
            for item in items:
                label = f" ({item.variant_label})" if item.variant_label else ""
                console.print(f"  {item.quantity} × {item.product_name}{label}  {item.line_total}")
            base = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
            console.print("\n[bold]Temporal UI[/bold]")
            console.print(f"  conversation  {base}/{quote(conversation.workflow_id, safe='')}")
            console.print(f"  checkout      {base}/{quote(order.idempotency_key, safe='')}")
    finally:
        await engine.dispose()
        if server:
            server.stop()
