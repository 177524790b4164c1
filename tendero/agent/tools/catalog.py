"""Store tools: product search, cart, and starting the checkout (never placing an order).

Product and variant ids are the shop's own UUIDs as returned by ``search_ecommerce_products``;
an id that does not parse, is unpublished, or belongs to another shop gets the same
``unknown_product`` error, so ids cannot be probed across shops.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tendero.agent.tools.base import ToolContext, ToolFailure, ToolResult
from tendero.catalog import search as catalog_search
from tendero.catalog.views import ProductDetail, VariantDetail
from tendero.db.models import Cart
from tendero.db.repos import carts as carts_repo
from tendero.db.repos import catalog as catalog_repo
from tendero.domain.checkout import Address, CheckoutChoices, Fulfilment
from tendero.domain.conversation import StartCheckout

MAX_QUANTITY = 99


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchProductsArgs(_Args):
    """Search the shop's catalog."""

    query: str = Field(min_length=1, max_length=200, description="What the customer wants.")
    limit: int = Field(default=5, ge=1, le=10, description="At most this many products.")


class AddToCartArgs(_Args):
    """Add units of a product (or one of its variants) to the customer's cart."""

    product_id: str = Field(description="product_id from search_ecommerce_products.")
    variant_id: str | None = Field(
        default=None, description="variant_id; required when the product has several."
    )
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)


class ViewCartArgs(_Args):
    """Show the customer's cart with current prices."""


class OrderItemArg(_Args):
    """One line of the order: a product (and variant) with the quantity wanted."""

    product_id: str
    variant_id: str | None = None
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class CreateOrderArgs(_Args):
    """Prepare the order for the customer's confirmation (this does not place it)."""

    items: list[OrderItemArg] = Field(
        default_factory=list,
        max_length=20,
        description="Lines to set in the cart (quantity replaces what is there); "
        "empty to check out the cart as it is.",
    )
    fulfilment: Literal["delivery", "pickup"] | None = None
    address: str | None = Field(
        default=None, min_length=6, max_length=500, description="Delivery address as given."
    )
    payment_method: str | None = Field(default=None, description="One of the shop's methods.")


async def search_ecommerce_products(ctx: ToolContext, args: SearchProductsArgs) -> ToolResult:
    """Products matching the query, available first, with their variants and prices."""
    hits = await catalog_search.search_products(
        ctx.session, tenant_id=ctx.tenant.id, query=args.query, limit=args.limit
    )
    products: list[dict[str, Any]] = []
    for hit in hits:
        product = await catalog_repo.get_product(
            ctx.session, tenant_id=ctx.tenant.id, product_id=hit.product_id
        )
        if product is not None and product.published and product.variants:
            products.append(_product_json(ctx, product))
    return ToolResult(content={"query": args.query, "count": len(products), "products": products})


async def add_to_cart(ctx: ToolContext, args: AddToCartArgs) -> ToolResult:
    """Add to the cart, capped at the stock left; the cart's new contents are returned."""
    variant = await _resolve_variant(ctx, args.product_id, args.variant_id)
    cart = await carts_repo.get_or_create_open_cart(
        ctx.session, tenant_id=ctx.tenant.id, customer_id=ctx.customer.id
    )
    already = await carts_repo.quantity_in_cart(ctx.session, cart=cart, variant_id=variant.id)
    added = await _set_quantity(ctx, cart, variant, already + args.quantity) - already
    return ToolResult(content={"added": added, "cart": await _cart_json(ctx)})


async def view_cart(ctx: ToolContext, args: ViewCartArgs) -> ToolResult:
    """The cart's lines and subtotal at current prices."""
    return ToolResult(content={"cart": await _cart_json(ctx)})


async def create_ecommerce_order(ctx: ToolContext, args: CreateOrderArgs) -> ToolResult:
    """Fill the cart and start the checkout; the customer must CONFIRM its summary.

    Raises:
        ToolFailure: unknown product, unavailable variant, unknown payment method, or an
            empty cart.
    """
    methods = list(ctx.tenant.payment_methods)
    if args.payment_method is not None and args.payment_method not in methods:
        raise ToolFailure(
            "unknown_payment_method",
            "That payment method is not accepted by this shop.",
            accepted=methods,
        )
    if args.fulfilment == "pickup" and args.address is not None:
        raise ToolFailure("address_with_pickup", "Pickup orders take no delivery address.")
    resolved = [
        (await _resolve_variant(ctx, item.product_id, item.variant_id), item.quantity)
        for item in args.items
    ]
    cart = await carts_repo.get_or_create_open_cart(
        ctx.session, tenant_id=ctx.tenant.id, customer_id=ctx.customer.id
    )
    for variant, quantity in resolved:
        await _set_quantity(ctx, cart, variant, quantity)
    view = await carts_repo.load_cart(ctx.session, tenant_id=ctx.tenant.id, cart_id=cart.id)
    if view is None or not view.lines:
        raise ToolFailure("empty_cart", "The cart is empty: add products first.")
    prefill = CheckoutChoices(
        fulfilment=Fulfilment(args.fulfilment) if args.fulfilment else None,
        address=Address(text=args.address) if args.address else None,
        payment_method=args.payment_method,
    )
    return ToolResult(
        content={
            "checkout_started": True,
            "cart": await _cart_json(ctx),
            "next": "The shop now sends the customer a summary with the total it computed; "
            "the order is placed only if the customer replies CONFIRM to it. Tell the "
            "customer to check the summary. Do not say the order is placed.",
        },
        commands=[StartCheckout(cart_id=view.cart_id, cart_version=view.version, prefill=prefill)],
    )


# -- helpers -------------------------------------------------------------------------------


def _product_json(ctx: ToolContext, product: ProductDetail) -> dict[str, Any]:
    data: dict[str, Any] = {
        "product_id": str(product.id),
        "name": product.name,
        "description": product.short_description,
        "price": ctx.price(product.min_price),
        "available": product.available,
    }
    if product.max_price != product.min_price:
        data["price_up_to"] = ctx.price(product.max_price)
    if len(product.variants) > 1:
        data["variants"] = [
            {
                "variant_id": str(v.id),
                "label": v.label,
                "price": ctx.price(v.price),
                "available": v.available,
            }
            for v in product.variants
        ]
    return data


async def _resolve_variant(
    ctx: ToolContext, raw_product_id: str, raw_variant_id: str | None
) -> VariantDetail:
    """The shop's sellable variant named by the model's ids.

    Raises:
        ToolFailure: ``unknown_product``, ``variant_required`` (with the choices),
            ``unknown_variant`` or ``out_of_stock``.
    """
    unknown = ToolFailure(
        "unknown_product",
        "No product with that product_id in this shop. Use an id from search_ecommerce_products.",
    )
    product_id = _uuid(raw_product_id)
    if product_id is None:
        raise unknown
    product = await catalog_repo.get_product(
        ctx.session, tenant_id=ctx.tenant.id, product_id=product_id
    )
    if product is None or not product.published or not product.variants:
        raise unknown
    if raw_variant_id is None:
        if len(product.variants) != 1:
            raise ToolFailure(
                "variant_required",
                "This product has several variants: ask the customer which one.",
                variants=_product_json(ctx, product)["variants"],
            )
        variant_id = product.variants[0].id
    else:
        found = _uuid(raw_variant_id)
        if found is None or found not in {v.id for v in product.variants}:
            raise ToolFailure("unknown_variant", "That variant_id is not one of this product's.")
        variant_id = found
    variant = await catalog_repo.get_variant(
        ctx.session, tenant_id=ctx.tenant.id, variant_id=variant_id
    )
    if variant is None:
        raise unknown
    if not variant.available:
        raise ToolFailure("out_of_stock", f"{variant.display_name} is out of stock.")
    return variant


async def _set_quantity(ctx: ToolContext, cart: Cart, variant: VariantDetail, wanted: int) -> int:
    """Set the line to ``wanted`` units, capped at the stock; returns the quantity set."""
    target = min(wanted, MAX_QUANTITY)
    if variant.stock_quantity is not None:
        target = min(target, variant.stock_quantity)
    await carts_repo.set_item_quantity(
        ctx.session, cart=cart, variant_id=variant.id, quantity=target
    )
    return target


async def _cart_json(ctx: ToolContext) -> dict[str, Any]:
    cart = await carts_repo.get_open_cart(
        ctx.session, tenant_id=ctx.tenant.id, customer_id=ctx.customer.id
    )
    view = (
        None
        if cart is None
        else await carts_repo.load_cart(ctx.session, tenant_id=ctx.tenant.id, cart_id=cart.id)
    )
    if view is None or not view.lines:
        return {"lines": [], "item_count": 0, "subtotal": ctx.price(Decimal("0"))}
    return {
        "lines": [
            {
                "product_id": str(line.product_id),
                "variant_id": str(line.variant_id),
                "name": line.product_name + (f" ({line.label})" if line.label else ""),
                "quantity": line.quantity,
                "unit_price": ctx.price(line.unit_price),
                "line_total": ctx.price(line.line_total),
            }
            for line in view.lines
        ],
        "item_count": view.item_count,
        "subtotal": ctx.price(view.subtotal),
        "note": "Subtotal before delivery fee and tax; the checkout summary has the total.",
    }


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
