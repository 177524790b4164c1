"""The guided engine: deterministic menus, lists and buttons; no model, no tokens.

Interactive replies carry typed ids (``cat:{uuid}:{page}``, ``prod:{uuid}``,
``qty:{variant}:{n}``...); plain text is matched by keywords and patterns (menu, cart,
help, order numbers, "where is my order") and otherwise searched in the catalog. An id
that does not parse, or names a row of another tenant, gets the same "no longer available"
answer and changes nothing.

The engine reads and changes the database through the session it is given and never
commits: the turn activity owns the transaction, and stores the decision with it so that a
retried turn returns the same decision instead of acting twice.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tendero.agent.guided_support import SupportSteps
from tendero.agent.presets import get_preset
from tendero.agent.texts import t
from tendero.catalog import search as catalog_search
from tendero.catalog.views import ProductDetail, VariantDetail
from tendero.db.models import Conversation, Customer, Message, Tenant, Verification
from tendero.db.repos import carts as carts_repo
from tendero.db.repos import catalog as catalog_repo
from tendero.db.repos import orders as orders_repo
from tendero.domain.checkout import Address, CheckoutChoice, CheckoutStatus, CheckoutStep
from tendero.domain.conversation import (
    CancelCheckout,
    Command,
    ConfirmCheckout,
    HandOff,
    Owner,
    ProvideCheckoutChoice,
    RefreshCheckout,
    StartCheckout,
)
from tendero.domain.messages import Button, InboundKind, ListRow, ListSection, Reply
from tendero.domain.money import Money, format_money, money_locale
from tendero.identity import REDACTED_CODE, VerificationPolicy

PAGE_SIZE = 9  # WhatsApp lists hold 10 rows; the 10th is "More…" when there are more.
MAX_QUANTITY = 99
ORDER_NUMBER = re.compile(r"\b([A-Za-z]{2,8}-\d{4}-\d{3,6})\b")
_WORD = re.compile(r"[^\w\s-]+", re.UNICODE)

GREETINGS = {"hi", "hello", "hey", "hola", "menu", "menú", "start", "inicio", "buenas", "ola"}
CART_WORDS = {"cart", "my cart", "basket", "carrito", "mi carrito"}
HELP_WORDS = {"help", "ayuda", "?"}
CHECKOUT_WORDS = {"checkout", "check out", "pay", "pagar", "comprar"}
CANCEL_WORDS = {"cancel", "cancelar"}
HANDOFF_WORDS = {"agent", "human", "agente", "humano", "asesor", "operator", "operador"}
HANDOFF_PHRASES = (
    "talk to a human",
    "talk to a person",
    "talk to an agent",
    "speak to a human",
    "speak to a person",
    "speak to an agent",
    "real person",
    "hablar con un agente",
    "hablar con una persona",
    "hablar con un humano",
    "hablar con un asesor",
)
ORDERS_PHRASES = (
    "where is my order",
    "where's my order",
    "my orders",
    "my order",
    "order status",
    "track",
    "mis pedidos",
    "mi pedido",
    "donde esta mi pedido",
    "dónde está mi pedido",
)


@dataclass
class TurnContext:
    """What one turn works with (ORM rows loaded by the turn activity, same session)."""

    session: AsyncSession
    tenant: Tenant
    customer: Customer
    conversation: Conversation
    message: Message
    checkout: CheckoutStatus | None
    # The assistant failed for this message: say so when the guided answer cannot help.
    fallback: bool = False
    # Identity verification: limits, the ``otp`` key that hashes typed codes, and the
    # conversation's recent OTP request (a typed 6-digit message is then a code).
    verification: VerificationPolicy | None = None
    otp_key: bytes = b""
    code_request: Verification | None = None


@dataclass
class TurnDecision:
    """What the engine decided: replies to send, commands for the workflow, new UI state."""

    replies: list[Reply] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    ui_state: dict[str, Any] = field(default_factory=dict)
    stage: str = "browsing"


class GuidedEngine:
    """Answers one inbound message (see module docstring)."""

    def __init__(self, ctx: TurnContext) -> None:
        """Bind the engine to one turn's context."""
        self.ctx = ctx
        self.lang = ctx.conversation.language or ctx.tenant.language
        self.decision = TurnDecision(ui_state={})
        self.support = SupportSteps(self)

    # -- helpers ---------------------------------------------------------------------------

    def _t(self, key: str, **values: Any) -> str:
        return t(self.lang, key, **values)

    def _money(self, amount: Decimal) -> str:
        locale = money_locale(self.ctx.tenant.locale, self.lang)
        return format_money(Money(amount=amount, currency=self.ctx.tenant.currency), locale)

    def _say(self, reply: Reply) -> None:
        self.decision.replies.append(reply)

    def _text(self, key: str, **values: Any) -> None:
        self._say(Reply.text(self._t(key, **values)))

    @property
    def _tenant_id(self) -> uuid.UUID:
        return self.ctx.tenant.id

    # -- entry point -----------------------------------------------------------------------

    async def handle(self) -> TurnDecision:
        """Route the message by kind; always produces at least one reply or command."""
        message = self.ctx.message
        content = message.content
        kind = InboundKind(message.kind)
        if kind is InboundKind.INTERACTIVE:
            await self._interactive(str(content.get("reply_id") or ""))
        elif kind is InboundKind.LOCATION:
            await self._location(content.get("location") or {})
        elif kind is InboundKind.ORDER:
            await self._catalog_order(content.get("order_items") or [])
        elif kind is InboundKind.TEXT and message.text:
            await self._text_message(message.text)
            if message.text != REDACTED_CODE:
                await self.support.follow_up()
        elif kind is InboundKind.MEDIA and await self.support.media():
            pass
        else:
            self._text("cannot_read")
            self._menu(greet=False)
        if self.ctx.checkout is not None and not self.ctx.checkout.step.is_terminal:
            if self.decision.stage == "browsing":
                self.decision.stage = f"checkout:{self.ctx.checkout.step.value}"
        return self.decision

    # -- interactive ids -------------------------------------------------------------------

    async def _interactive(self, reply_id: str) -> None:
        head, _, rest = reply_id.partition(":")
        handlers = {
            "menu": self._menu_handler,
            "browse": self._browse_handler,
            "cats": self._browse_handler,
            "cat": self._category_handler,
            "prod": self._product_handler,
            "add": self._add_handler,
            "var": self._variant_handler,
            "qty": self._quantity_handler,
            "cart": self._cart_handler,
            "clear": self._clear_handler,
            "checkout": self._checkout_handler,
            "orders": self._orders_handler,
            "ful": self._fulfilment_handler,
            "pay": self._payment_handler,
            "cancel": self._cancel_handler,
            "ticket": self._ticket_handler,
            "tcat": self._ticket_category_handler,
            "csat": self.support.rate,
        }
        handler = handlers.get(head)
        if handler is None or not await handler(rest):
            self._unknown_option()

    def _unknown_option(self) -> None:
        self._text("unknown_option")
        self._menu(greet=False)

    async def _ticket_handler(self, _: str) -> bool:
        self.support.pick_category()
        return True

    async def _ticket_category_handler(self, rest: str) -> bool:
        return self.support.ask_description(rest)

    async def _menu_handler(self, _: str) -> bool:
        self._menu(greet=True)
        return True

    async def _browse_handler(self, rest: str) -> bool:
        page = _int(rest, default=0)
        if page is None:
            return False
        await self._categories(page)
        return True

    async def _category_handler(self, rest: str) -> bool:
        raw_id, _, raw_page = rest.partition(":")
        category_id = _uuid(raw_id)
        page = _int(raw_page, default=0)
        if category_id is None or page is None:
            return False
        return await self._category_products(category_id, page)

    async def _product(self, raw_id: str) -> ProductDetail | None:
        """The tenant's product named by an interactive id, or ``None``."""
        product_id = _uuid(raw_id)
        if product_id is None:
            return None
        return await catalog_repo.get_product(
            self.ctx.session, tenant_id=self._tenant_id, product_id=product_id
        )

    async def _variant(self, raw_id: str) -> VariantDetail | None:
        """The tenant's variant named by an interactive id, or ``None``."""
        variant_id = _uuid(raw_id)
        if variant_id is None:
            return None
        return await catalog_repo.get_variant(
            self.ctx.session, tenant_id=self._tenant_id, variant_id=variant_id
        )

    async def _product_handler(self, rest: str) -> bool:
        product = await self._product(rest)
        if product is None:
            return False
        self._product_detail(product)
        return True

    async def _add_handler(self, rest: str) -> bool:
        product = await self._product(rest)
        if product is None:
            return False
        sellable = [v for v in product.variants if _available(v.in_stock, v.stock_quantity)]
        if not sellable:
            self._text("product_out_of_stock", name=product.name)
            return True
        if product.kind == "simple" or len(product.variants) == 1:
            variant = await self._variant(str(sellable[0].id))
            assert variant is not None
            self._ask_quantity(variant)
        else:
            self._variant_picker(product)
        return True

    async def _variant_handler(self, rest: str) -> bool:
        variant = await self._variant(rest)
        if variant is None:
            return False
        if not _available(variant.in_stock, variant.stock_quantity):
            self._text("product_out_of_stock", name=_variant_label(variant))
            return True
        self._ask_quantity(variant)
        return True

    async def _quantity_handler(self, rest: str) -> bool:
        raw_id, _, raw_qty = rest.partition(":")
        quantity = _int(raw_qty, default=None)
        if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
            return False
        variant = await self._variant(raw_id)
        if variant is None:
            return False
        await self._add_to_cart(variant, quantity)
        return True

    async def _cart_handler(self, _: str) -> bool:
        await self._show_cart()
        return True

    async def _clear_handler(self, _: str) -> bool:
        cart = await carts_repo.get_open_cart(
            self.ctx.session,
            tenant_id=self._tenant_id,
            customer_id=self.ctx.customer.id,
            lock=True,
        )
        if cart is not None:
            await carts_repo.clear_cart(self.ctx.session, cart=cart)
        if self._checkout_active():
            assert self.ctx.checkout is not None
            self.decision.commands.append(CancelCheckout(workflow_id=self.ctx.checkout.workflow_id))
        self._say(
            Reply(
                kind="buttons",
                body=self._t("cart_cleared"),
                buttons=[Button(id="browse", title=self._t("btn_browse"))],
            )
        )
        self.decision.stage = "browsing"
        return True

    async def _checkout_handler(self, _: str) -> bool:
        await self._start_checkout()
        return True

    async def _orders_handler(self, _: str) -> bool:
        await self._list_orders()
        return True

    async def _fulfilment_handler(self, rest: str) -> bool:
        if rest not in {"delivery", "pickup"} or not self._at_step(CheckoutStep.FULFILMENT):
            return False
        assert self.ctx.checkout is not None
        from tendero.domain.checkout import Fulfilment

        self.decision.commands.append(
            ProvideCheckoutChoice(
                workflow_id=self.ctx.checkout.workflow_id,
                choice=CheckoutChoice(step=CheckoutStep.FULFILMENT, fulfilment=Fulfilment(rest)),
            )
        )
        return True

    async def _payment_handler(self, rest: str) -> bool:
        if rest not in self.ctx.tenant.payment_methods or not self._at_step(CheckoutStep.PAYMENT):
            return False
        assert self.ctx.checkout is not None
        self.decision.commands.append(
            ProvideCheckoutChoice(
                workflow_id=self.ctx.checkout.workflow_id,
                choice=CheckoutChoice(step=CheckoutStep.PAYMENT, payment_method=rest),
            )
        )
        return True

    async def _cancel_handler(self, _: str) -> bool:
        if not self._checkout_active():
            return False
        assert self.ctx.checkout is not None
        self.decision.commands.append(CancelCheckout(workflow_id=self.ctx.checkout.workflow_id))
        self._text("checkout_cancelled")
        self.decision.stage = "browsing"
        return True

    # -- other message kinds ---------------------------------------------------------------

    async def _location(self, location: dict[str, Any]) -> None:
        if self._at_step(CheckoutStep.ADDRESS):
            assert self.ctx.checkout is not None
            address = Address(
                latitude=float(location.get("latitude", 0.0)),
                longitude=float(location.get("longitude", 0.0)),
                name=location.get("name"),
                text=location.get("address"),
            )
            self.decision.commands.append(
                ProvideCheckoutChoice(
                    workflow_id=self.ctx.checkout.workflow_id,
                    choice=CheckoutChoice(step=CheckoutStep.ADDRESS, address=address),
                )
            )
            return
        self._text("cannot_read")
        self._menu(greet=False)

    async def _catalog_order(self, items: list[dict[str, Any]]) -> None:
        retailer_ids = [str(item.get("retailer_id")) for item in items]
        found = await catalog_repo.find_variants_by_retailer_ids(
            self.ctx.session, tenant_id=self._tenant_id, retailer_ids=retailer_ids
        )
        missing: list[str] = []
        added = False
        for item in items:
            retailer_id = str(item.get("retailer_id"))
            variant = found.get(retailer_id)
            quantity = int(item.get("quantity") or 0)
            if (
                not 1 <= quantity <= MAX_QUANTITY
                or variant is None
                or not _available(variant.in_stock, variant.stock_quantity)
            ):
                missing.append(retailer_id)
                continue
            added = await self._put_in_cart(variant, quantity, announce=False) or added
        if added:
            self._text("catalog_order_added")
        if missing:
            self._text("catalog_order_missing", items=", ".join(missing))
        await self._show_cart()

    def owns_text(self, raw: str) -> bool:
        """True when typed text is a keyword or a checkout input this engine must answer.

        CONFIRM, cancel, quantities, an address at the address step, the menu, cart, help,
        checkout and hand-off words are always answered here (deterministic, no tokens);
        other text may go to the assistant.
        """
        lowered = _normalise(raw)
        return (
            self.owns_checkout_text(raw)
            or not lowered
            or lowered in GREETINGS | CART_WORDS | HELP_WORDS | CHECKOUT_WORDS
            or _wants_human(lowered)
            or self.support.owns_text(raw, lowered)
        )

    def owns_checkout_text(self, raw: str) -> bool:
        """True for typed answers a running checkout or quantity prompt is waiting for.

        These are answered even while a person owns the conversation, so a customer who
        asked for help can still CONFIRM the summary in front of them.
        """
        lowered = _normalise(raw)
        return (
            _is_confirm(raw)
            or (lowered in CANCEL_WORDS and self._checkout_active())
            or (self._pending_quantity() is not None and lowered.isdigit())
            or self._at_step(CheckoutStep.ADDRESS)
        )

    def answers_alone(self, raw: str) -> bool:
        """True for a text that must be its own turn, never merged into a burst.

        A verification code (so it is hashed and redacted), CONFIRM, cancel during a
        checkout, a typed quantity. While the checkout waits for the address, only CONFIRM
        and cancel stand alone: other texts are one address typed over several messages.
        """
        if self.support.owns_code(raw):
            return True
        if not self.owns_checkout_text(raw):
            return False
        return not self._at_step(CheckoutStep.ADDRESS) or (
            _is_confirm(raw) or _normalise(raw) in CANCEL_WORDS
        )

    def _pending_quantity(self) -> uuid.UUID | None:
        return _uuid(str(self.ctx.conversation.ui_state.get("awaiting_quantity", "")))

    def order_number_in(self, text: str) -> str | None:
        """The first order number written in ``text``, upper-cased."""
        number = ORDER_NUMBER.search(text)
        return None if number is None else number.group(1).upper()

    async def _text_message(self, raw: str) -> None:
        text = raw.strip()
        lowered = _normalise(text)
        if await self.support.handle_code(text):
            return
        if _is_confirm(text):
            await self._confirm()
            return
        if lowered in CANCEL_WORDS and self._checkout_active():
            await self._cancel_handler("")
            return
        pending_variant = self._pending_quantity()
        if pending_variant is not None and lowered.isdigit():
            await self._typed_quantity(pending_variant, int(lowered))
            return
        if _wants_human(lowered):
            self._hand_off()
            return
        if lowered in GREETINGS or not lowered:
            self._menu(greet=True)
            return
        if lowered in CART_WORDS:
            await self._show_cart()
            return
        if lowered in HELP_WORDS:
            self._say(
                Reply(
                    kind="buttons",
                    body=self._t("help", example=f"{self.ctx.tenant.order_prefix}-2026-00001"),
                    buttons=self.support.help_buttons(),
                )
            )
            return
        if lowered in CHECKOUT_WORDS:
            await self._start_checkout()
            return
        if await self.support.handle_text(text, lowered):
            return
        number = ORDER_NUMBER.search(text)
        if number is not None:
            await self._track(number.group(1).upper())
            return
        if any(phrase in lowered for phrase in ORDERS_PHRASES):
            await self._list_orders()
            return
        if self._at_step(CheckoutStep.ADDRESS):
            await self._typed_address(text)
            return
        await self._search(text)

    def _hand_off(self) -> None:
        self.ctx.conversation.owner = Owner.WAITING_FOR_HUMAN.value
        self.decision.commands.append(HandOff())
        self._text("handoff_started")
        self.decision.stage = "handoff"

    # -- catalog ---------------------------------------------------------------------------

    def _menu(self, *, greet: bool) -> None:
        name = f" {self.ctx.customer.name.split()[0]}" if greet and self.ctx.customer.name else ""
        body = self._t("greeting", name=name, shop=self.ctx.tenant.name)
        self._say(
            Reply(
                kind="buttons",
                body=body,
                buttons=[
                    Button(id="browse", title=self._t("btn_browse")),
                    Button(id="cart", title=self._t("btn_cart")),
                    Button(id="orders", title=self._t("btn_orders")),
                ],
            )
        )

    async def _categories(self, page: int) -> None:
        categories = await catalog_repo.list_categories(self.ctx.session, tenant_id=self._tenant_id)
        if not categories:
            self._text("no_categories")
            return
        start = page * PAGE_SIZE
        chunk = categories[start : start + PAGE_SIZE]
        if not chunk:
            chunk, page, start = categories[:PAGE_SIZE], 0, 0
        rows = [
            ListRow(
                id=f"cat:{c.id}:0",
                title=c.name,
                description=c.path if c.path != c.name else None,
            )
            for c in chunk
        ]
        if start + PAGE_SIZE < len(categories):
            rows.append(ListRow(id=f"cats:{page + 1}", title=self._t("more_row"), description=None))
        self._say(
            Reply(
                kind="list",
                body=self._t("categories_body"),
                list_button=self._t("list_open"),
                sections=[ListSection(title=self._t("categories_section"), rows=rows)],
            )
        )
        self.decision.stage = "browsing"

    async def _category_products(self, category_id: uuid.UUID, page: int) -> bool:
        categories = await catalog_repo.list_categories(self.ctx.session, tenant_id=self._tenant_id)
        category = next((c for c in categories if c.id == category_id), None)
        if category is None:
            return False
        products, total = await catalog_repo.list_category_products(
            self.ctx.session,
            tenant_id=self._tenant_id,
            category_id=category_id,
            offset=page * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        if not products:
            return False
        rows = [
            self._product_row(p.id, p.name, p.min_price, p.max_price, p.available) for p in products
        ]
        if (page + 1) * PAGE_SIZE < total:
            rows.append(
                ListRow(
                    id=f"cat:{category_id}:{page + 1}",
                    title=self._t("more_row"),
                    description=self._t("more_row_desc"),
                )
            )
        self._say(
            Reply(
                kind="list",
                body=self._t("products_body", category=category.name),
                list_button=self._t("list_open"),
                sections=[ListSection(title=self._t("products_section"), rows=rows)],
            )
        )
        return True

    def _product_row(
        self, product_id: uuid.UUID, name: str, low: Decimal, high: Decimal, available: bool
    ) -> ListRow:
        """A list row for a product: price range, and "out of stock" when it is."""
        stock = "" if available else f" · {self._t('out_of_stock')}"
        return ListRow(
            id=f"prod:{product_id}", title=name, description=self._price_range(low, high) + stock
        )

    def _price_range(self, low: Decimal, high: Decimal) -> str:
        if low == high:
            return self._money(low)
        return f"{self._money(low)} – {self._money(high)}"

    def _product_detail(self, product: ProductDetail) -> None:
        prices = [v.price for v in product.variants]
        stock_known = [v.stock_quantity for v in product.variants if v.stock_quantity is not None]
        available = any(_available(v.in_stock, v.stock_quantity) for v in product.variants)
        if not available:
            stock = self._t("out_of_stock")
        elif product.kind == "simple" and stock_known:
            stock = self._t("in_stock_n", count=stock_known[0])
        else:
            stock = self._t("in_stock")
        description = (product.short_description or product.description or "").strip()
        body = self._t(
            "product_detail",
            name=product.name,
            price=self._price_range(min(prices), max(prices)),
            stock=stock,
            description=description[:600],
        ).strip()
        back = f"cat:{product.category_id}:0" if product.category_id else "browse"
        buttons = [Button(id=back, title=self._t("btn_back"))]
        if available:
            buttons.insert(0, Button(id=f"add:{product.id}", title=self._t("btn_add")))
        self._say(Reply(kind="buttons", body=body, buttons=buttons))

    def _variant_picker(self, product: ProductDetail) -> None:
        rows = []
        for variant in product.variants[:10]:
            label = variant.label or product.name
            description = self._money(variant.price)
            if not _available(variant.in_stock, variant.stock_quantity):
                description += f" · {self._t('variant_out')}"
            rows.append(ListRow(id=f"var:{variant.id}", title=label, description=description))
        self._say(
            Reply(
                kind="list",
                body=self._t("choose_variant", name=product.name),
                list_button=self._t("list_open"),
                sections=[ListSection(title=self._t("variants_section"), rows=rows)],
            )
        )

    def _ask_quantity(self, variant: VariantDetail) -> None:
        limit = 5 if variant.stock_quantity is None else max(1, min(5, variant.stock_quantity))
        rows = [ListRow(id=f"qty:{variant.id}:{n}", title=str(n)) for n in range(1, limit + 1)]
        self._say(
            Reply(
                kind="list",
                body=self._t(
                    "choose_quantity",
                    label=_variant_label(variant),
                    price=self._money(variant.price),
                ),
                list_button=self._t("list_open"),
                sections=[ListSection(title=self._t("quantity_section"), rows=rows)],
            )
        )
        self.decision.ui_state = {"awaiting_quantity": str(variant.id)}

    async def _typed_quantity(self, variant_id: uuid.UUID, quantity: int) -> None:
        if not 1 <= quantity <= MAX_QUANTITY:
            self._text("invalid_quantity", max=MAX_QUANTITY)
            self.decision.ui_state = {"awaiting_quantity": str(variant_id)}
            return
        variant = await self._variant(str(variant_id))
        if variant is None:
            self._unknown_option()
            return
        await self._add_to_cart(variant, quantity)

    async def _search(self, query: str) -> None:
        hits = await catalog_search.search_products(
            self.ctx.session, tenant_id=self._tenant_id, query=query, limit=PAGE_SIZE
        )
        if not hits:
            self._say(
                Reply(
                    kind="buttons",
                    body=self._t(
                        "assistant_unavailable" if self.ctx.fallback else "search_none",
                        query=query[:60],
                    ),
                    buttons=[Button(id="browse", title=self._t("btn_browse"))],
                )
            )
            return
        rows = [
            self._product_row(h.product_id, h.name, h.min_price, h.max_price, h.available)
            for h in hits
        ]
        self._say(
            Reply(
                kind="list",
                body=self._t("search_results", query=query[:60]),
                list_button=self._t("list_open"),
                sections=[ListSection(title=self._t("products_section"), rows=rows)],
            )
        )

    # -- cart ------------------------------------------------------------------------------

    async def _put_in_cart(self, variant: VariantDetail, quantity: int, *, announce: bool) -> bool:
        """Add up to the stock left; returns True when something was added."""
        cart = await carts_repo.get_or_create_open_cart(
            self.ctx.session, tenant_id=self._tenant_id, customer_id=self.ctx.customer.id
        )
        already = await carts_repo.quantity_in_cart(
            self.ctx.session, cart=cart, variant_id=variant.id
        )
        wanted = already + quantity
        target = wanted
        if variant.stock_quantity is not None:
            target = min(wanted, variant.stock_quantity)
        if target <= already:
            self._text("none_left", label=_variant_label(variant))
            return False
        await carts_repo.set_item_quantity(
            self.ctx.session, cart=cart, variant_id=variant.id, quantity=target
        )
        if target < wanted:
            self._text(
                "capped",
                available=variant.stock_quantity,
                label=_variant_label(variant),
                quantity=target,
            )
        if announce:
            view = await carts_repo.load_cart(
                self.ctx.session, tenant_id=self._tenant_id, cart_id=cart.id
            )
            assert view is not None
            self._say(
                Reply(
                    kind="buttons",
                    body=self._t(
                        "added",
                        quantity=target - already,
                        label=_variant_label(variant),
                        count=view.item_count,
                        subtotal=self._money(view.subtotal),
                    ),
                    buttons=[
                        Button(id="checkout", title=self._t("btn_checkout")),
                        Button(id="browse", title=self._t("btn_add_more")),
                        Button(id="cart", title=self._t("btn_cart")),
                    ],
                )
            )
        self.decision.stage = "cart"
        return True

    async def _add_to_cart(self, variant: VariantDetail, quantity: int) -> None:
        if not _available(variant.in_stock, variant.stock_quantity):
            self._text("product_out_of_stock", name=_variant_label(variant))
            return
        await self._put_in_cart(variant, quantity, announce=True)

    async def _open_cart(self) -> carts_repo.CartView | None:
        """The customer's open cart with current prices, or ``None``."""
        cart = await carts_repo.get_open_cart(
            self.ctx.session, tenant_id=self._tenant_id, customer_id=self.ctx.customer.id
        )
        if cart is None:
            return None
        return await carts_repo.load_cart(
            self.ctx.session, tenant_id=self._tenant_id, cart_id=cart.id
        )

    async def _show_cart(self) -> None:
        view = await self._open_cart()
        if view is None or not view.lines:
            self._say(
                Reply(
                    kind="buttons",
                    body=self._t("cart_empty"),
                    buttons=[Button(id="browse", title=self._t("btn_browse"))],
                )
            )
            return
        lines = "\n".join(
            self._t(
                "cart_line",
                quantity=line.quantity,
                label=line.product_name + (f" ({line.label})" if line.label else ""),
                total=self._money(line.line_total),
            )
            for line in view.lines
        )
        self._say(
            Reply(
                kind="buttons",
                body=self._t("cart_body", lines=lines, subtotal=self._money(view.subtotal)),
                buttons=[
                    Button(id="checkout", title=self._t("btn_checkout")),
                    Button(id="browse", title=self._t("btn_add_more")),
                    Button(id="clear", title=self._t("btn_clear")),
                ],
            )
        )
        self.decision.stage = "cart"

    # -- checkout --------------------------------------------------------------------------

    def _checkout_active(self) -> bool:
        return self.ctx.checkout is not None and not self.ctx.checkout.step.is_terminal

    def _at_step(self, step: CheckoutStep) -> bool:
        return (
            self._checkout_active()
            and self.ctx.checkout is not None
            and (self.ctx.checkout.step is step)
        )

    async def _start_checkout(self) -> None:
        view = await self._open_cart()
        if view is None or not view.lines:
            await self._show_cart()
            return
        current = self.ctx.checkout
        if current is not None and current.step is CheckoutStep.PLACING:
            self._text("order_being_placed")
            return
        if (
            current is not None
            and not current.step.is_terminal
            and current.cart_version == view.version
        ):
            self._text("checkout_running")
            self.decision.stage = f"checkout:{current.step.value}"
            return
        self.decision.commands.append(
            StartCheckout(cart_id=view.cart_id, cart_version=view.version)
        )
        self.decision.stage = "checkout"

    async def _confirm(self) -> None:
        status = self.ctx.checkout
        if status is not None and status.step is CheckoutStep.PLACING:
            self._text("order_being_placed")
            return
        if status is None or status.step is not CheckoutStep.CONFIRMATION:
            if status is not None and status.step is CheckoutStep.EXPIRED:
                self._text("confirm_expired")
            else:
                self._text("nothing_to_confirm")
            return
        cart = await carts_repo.get_open_cart(
            self.ctx.session, tenant_id=self._tenant_id, customer_id=self.ctx.customer.id
        )
        if cart is None:
            self.decision.commands.append(CancelCheckout(workflow_id=status.workflow_id))
            await self._show_cart()
            return
        if cart.version != status.cart_version:
            # The checkout shows the new summary itself, introduced by "your cart changed".
            self.decision.commands.append(
                RefreshCheckout(workflow_id=status.workflow_id, cart_version=cart.version)
            )
            return
        sent_at = status.summary_sent_at
        if sent_at is not None and self.ctx.message.created_at < sent_at:
            # Typed before the current summary reached the customer: it answers an older one.
            self._text("confirm_outdated")
            return
        assert status.summary_id is not None
        self.decision.commands.append(
            ConfirmCheckout(
                workflow_id=status.workflow_id,
                summary_id=status.summary_id,
                cart_version=status.cart_version,
            )
        )
        self.decision.stage = "checkout:placing"

    async def _typed_address(self, text: str) -> None:
        assert self.ctx.checkout is not None
        if len(text) < 6:
            self._text("address_too_short")
            return
        self.decision.commands.append(
            ProvideCheckoutChoice(
                workflow_id=self.ctx.checkout.workflow_id,
                choice=CheckoutChoice(step=CheckoutStep.ADDRESS, address=Address(text=text[:500])),
            )
        )

    # -- orders ----------------------------------------------------------------------------

    async def _track(self, number: str) -> None:
        order = await orders_repo.get_customer_order(
            self.ctx.session,
            tenant_id=self._tenant_id,
            customer_id=self.ctx.customer.id,
            number=number,
            business_type=get_preset(self.ctx.tenant.preset).name,
        )
        if order is None:
            self._text("order_not_found", number=number)
            return
        self._order_detail(order)
        self.decision.stage = "tracking"

    def _order_detail(self, order: orders_repo.OrderView) -> None:
        items = "\n".join(
            self._t(
                "cart_line",
                quantity=i.quantity,
                label=i.product_name + (f" ({i.variant_label})" if i.variant_label else ""),
                total=self._money(i.line_total),
            )
            for i in order.items
        )
        events = "\n".join(
            f"• {e.created_at:%Y-%m-%d %H:%M} UTC: {self._t_event(e.kind)}" for e in order.events
        )
        self._text(
            "order_detail",
            number=order.number,
            status=self._t_status(order.status),
            items=items,
            total=self._money(order.total),
            events=events,
        )

    def _t_status(self, status: str) -> str:
        try:
            return self._t(f"status_{status}")
        except KeyError:
            return status

    def _t_event(self, kind: str) -> str:
        try:
            return self._t(f"event_{kind}")
        except KeyError:
            return kind

    async def _list_orders(self) -> None:
        orders = await orders_repo.list_customer_orders(
            self.ctx.session,
            tenant_id=self._tenant_id,
            customer_id=self.ctx.customer.id,
            business_type=get_preset(self.ctx.tenant.preset).name,
        )
        if not orders:
            self._text("no_orders")
            return
        if len(orders) == 1:
            self._order_detail(orders[0])
        else:
            lines = "\n".join(
                self._t(
                    "orders_line",
                    number=o.number,
                    status=self._t_status(o.status),
                    total=self._money(o.total),
                )
                for o in orders
            )
            self._text("orders_list", lines=lines)
        self.decision.stage = "tracking"


def _normalise(text: str) -> str:
    return " ".join(_WORD.sub(" ", text.strip().lower()).split())


def _is_confirm(text: str) -> bool:
    return _normalise(text) == "confirm"


def _wants_human(lowered: str) -> bool:
    return lowered in HANDOFF_WORDS or any(phrase in lowered for phrase in HANDOFF_PHRASES)


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _int(raw: str, *, default: int | None) -> int | None:
    if raw == "":
        return default
    return int(raw) if raw.isdigit() else None


def _available(in_stock: bool, stock_quantity: int | None) -> bool:
    return in_stock and (stock_quantity is None or stock_quantity > 0)


def _variant_label(variant: VariantDetail) -> str:
    return variant.product_name + (f" ({variant.label})" if variant.label else "")


async def run_guided_turn(ctx: TurnContext) -> TurnDecision:
    """Answer one message with the guided engine (see module docstring)."""
    return await GuidedEngine(ctx).handle()
