"""Cart repository: the open cart of a customer and its line items."""

from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.catalog.views import variant_label
from tendero.db.models import Cart, CartItem, Product, ProductVariant


class CartLine(BaseModel):
    """A cart line joined with its variant's current price and stock."""

    variant_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    attributes: dict[str, str]
    sku: str | None
    quantity: int
    unit_price: Decimal
    stock_quantity: int | None
    in_stock: bool

    @property
    def label(self) -> str | None:
        """``"Blue, Large"`` for a variant, ``None`` for a simple product."""
        return variant_label(self.attributes)

    @property
    def line_total(self) -> Decimal:
        """``unit_price * quantity`` (unrounded; prices have at most 3 places)."""
        return self.unit_price * self.quantity


class CartView(BaseModel):
    """An open cart with its lines, in the order they were added."""

    cart_id: uuid.UUID
    version: int
    lines: list[CartLine]

    @property
    def item_count(self) -> int:
        """Total units across lines."""
        return sum(line.quantity for line in self.lines)

    @property
    def subtotal(self) -> Decimal:
        """Sum of line totals at current prices."""
        return sum((line.line_total for line in self.lines), Decimal("0"))


async def get_open_cart(
    session: AsyncSession, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, lock: bool = False
) -> Cart | None:
    """The customer's open cart, optionally locked ``FOR UPDATE`` for a change."""
    stmt = select(Cart).where(
        Cart.tenant_id == tenant_id, Cart.customer_id == customer_id, Cart.status == "open"
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_or_create_open_cart(
    session: AsyncSession, *, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> Cart:
    """The open cart, created if missing, locked for update.

    The partial unique index (one open cart per customer) makes a concurrent create a no-op.
    """
    await session.execute(
        insert(Cart)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, customer_id=customer_id, status="open")
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "customer_id"], index_where=Cart.status == "open"
        )
    )
    cart = await get_open_cart(session, tenant_id=tenant_id, customer_id=customer_id, lock=True)
    assert cart is not None  # inserted or already there, inside this transaction
    return cart


async def _bump(session: AsyncSession, cart: Cart) -> None:
    await session.execute(
        update(Cart)
        .where(Cart.id == cart.id)
        .values(version=Cart.version + 1, updated_at=func.now())
    )
    await session.refresh(cart)


async def set_item_quantity(
    session: AsyncSession, *, cart: Cart, variant_id: uuid.UUID, quantity: int
) -> None:
    """Set a line's quantity (0 removes it) and bump the cart version."""
    if quantity <= 0:
        await session.execute(
            delete(CartItem).where(CartItem.cart_id == cart.id, CartItem.variant_id == variant_id)
        )
    else:
        await session.execute(
            insert(CartItem)
            .values(
                id=uuid.uuid4(),
                tenant_id=cart.tenant_id,
                cart_id=cart.id,
                variant_id=variant_id,
                quantity=quantity,
            )
            .on_conflict_do_update(
                index_elements=["cart_id", "variant_id"], set_={"quantity": quantity}
            )
        )
    await _bump(session, cart)


async def clear_cart(session: AsyncSession, *, cart: Cart) -> None:
    """Remove every line and bump the version."""
    await session.execute(delete(CartItem).where(CartItem.cart_id == cart.id))
    await _bump(session, cart)


async def load_cart(
    session: AsyncSession, *, tenant_id: uuid.UUID, cart_id: uuid.UUID
) -> CartView | None:
    """A cart of this tenant with its lines at current prices, or ``None``."""
    cart = (
        await session.execute(select(Cart).where(Cart.id == cart_id, Cart.tenant_id == tenant_id))
    ).scalar_one_or_none()
    if cart is None:
        return None
    rows = await session.execute(
        select(CartItem, ProductVariant, Product)
        .join(ProductVariant, ProductVariant.id == CartItem.variant_id)
        .join(Product, Product.id == ProductVariant.product_id)
        .where(CartItem.cart_id == cart.id, CartItem.tenant_id == tenant_id)
        .order_by(CartItem.added_at, CartItem.id)
    )
    lines = [
        CartLine(
            variant_id=variant.id,
            product_id=product.id,
            product_name=product.name,
            attributes=variant.attributes,
            sku=variant.sku or product.sku,
            quantity=item.quantity,
            unit_price=variant.price,
            stock_quantity=variant.stock_quantity,
            in_stock=variant.in_stock,
        )
        for item, variant, product in rows
    ]
    return CartView(cart_id=cart.id, version=cart.version, lines=lines)


async def quantity_in_cart(session: AsyncSession, *, cart: Cart, variant_id: uuid.UUID) -> int:
    """Units of ``variant_id`` already in the cart."""
    found = await session.execute(
        select(CartItem.quantity).where(
            CartItem.cart_id == cart.id, CartItem.variant_id == variant_id
        )
    )
    return found.scalar_one_or_none() or 0
