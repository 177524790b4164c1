"""Catalog: categories, products and their variants (every product has at least one)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Computed,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, MoneyAmount, Timestamped, UUIDPk


class Category(UUIDPk, Timestamped, Base):
    """A category; ``path`` is the full breadcrumb (``Clothing > Hoodies``), unique per tenant."""

    __tablename__ = "categories"
    __table_args__ = (
        UniqueConstraint("tenant_id", "path"),
        UniqueConstraint("tenant_id", "external_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(600))
    external_id: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, server_default="0")


class Product(UUIDPk, Timestamped, Base):
    """A product as the customer sees it; prices and stock live on its variants.

    ``kind`` is ``simple`` (one variant without attributes) or ``variable`` (variants
    differ by ``attributes``). ``search_vector`` is a generated column for full-text search.
    """

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_products_search_vector", "search_vector", postgresql_using="gin"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), server_default="simple")
    name: Mapped[str] = mapped_column(String(300))
    short_description: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    sku: Mapped[str | None] = mapped_column(String(100))
    image_url: Mapped[str | None] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, server_default="true")
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    external_updated_at: Mapped[datetime | None]
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('simple', coalesce(name, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(short_description, '')), 'B') || "
            "setweight(to_tsvector('english', coalesce(description, '')), 'C')",
            persisted=True,
        ),
    )


class ProductCategory(Base):
    """Many-to-many link between products and categories."""

    __tablename__ = "product_categories"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )


class ProductVariant(UUIDPk, Timestamped, Base):
    """A sellable variant with its own SKU, price and stock.

    ``attributes`` maps attribute names to values (``{"Color": "Blue", "Size": "Large"}``),
    empty for a simple product. ``stock_quantity`` ``None`` means stock is not tracked
    (sellable while ``in_stock``). ``price`` is what the customer pays now (the sale price
    when there is one); ``regular_price`` is kept to show the saving.
    """

    __tablename__ = "product_variants"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_product_variants_tenant_id_sku", "tenant_id", "sku"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(100))
    sku: Mapped[str | None] = mapped_column(String(100))
    attributes: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}")
    price: Mapped[MoneyAmount]
    regular_price: Mapped[Decimal | None] = mapped_column(Numeric(20, 3))
    stock_quantity: Mapped[int | None] = mapped_column(Integer)
    in_stock: Mapped[bool] = mapped_column(Boolean, server_default="true")
    position: Mapped[int] = mapped_column(Integer, server_default="0")
