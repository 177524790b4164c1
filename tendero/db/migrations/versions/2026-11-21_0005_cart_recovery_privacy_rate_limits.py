"""Cart recovery and coupons, consents and privacy requests, rate-limit windows.

Discounts on carts and orders; per-tenant recovery settings and retention period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 18:56:59.143179
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notified", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_hits")),
    )
    op.create_table(
        "consents",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=24), server_default="marketing", nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_consents_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_consents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        "ix_consents_tenant_id_customer_id_purpose",
        "consents",
        ["tenant_id", "customer_id", "purpose", "recorded_at"],
        unique=False,
    )
    op.create_table(
        "privacy_requests",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="pending", nullable=False),
        sa.Column("source", sa.String(length=16), server_default="api", nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=True),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "outcome", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_privacy_requests_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_privacy_requests_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    op.create_index(
        "ix_privacy_requests_tenant_id_created_at",
        "privacy_requests",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "cart_recoveries",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("cart_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="waiting", nullable=False),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("cart_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("item_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=3), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "steps", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("recovered_order_id", sa.Uuid(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["carts.id"],
            name=op.f("fk_cart_recoveries_cart_id_carts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_cart_recoveries_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recovered_order_id"],
            ["orders.id"],
            name=op.f("fk_cart_recoveries_recovered_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_cart_recoveries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_recoveries")),
        sa.UniqueConstraint("cart_id", name=op.f("uq_cart_recoveries_cart_id")),
    )
    op.create_index(
        "ix_cart_recoveries_tenant_id_status",
        "cart_recoveries",
        ["tenant_id", "status"],
        unique=False,
    )
    op.create_table(
        "coupons",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usage_limit", sa.Integer(), server_default="1", nullable=False),
        sa.Column("times_used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("source", sa.String(length=16), server_default="recovery", nullable=False),
        sa.Column("cart_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_order_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cart_id"], ["carts.id"], name=op.f("fk_coupons_cart_id_carts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_coupons_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_order_id"],
            ["orders.id"],
            name=op.f("fk_coupons_redeemed_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_coupons_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_coupons_tenant_id_code")),
    )
    op.add_column("carts", sa.Column("discount_code", sa.String(length=64), nullable=True))
    op.add_column(
        "orders",
        sa.Column(
            "discount", sa.Numeric(precision=20, scale=3), server_default="0", nullable=False
        ),
    )
    op.add_column("orders", sa.Column("discount_code", sa.String(length=64), nullable=True))
    op.add_column(
        "tenants",
        sa.Column(
            "cart_recovery",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "tenants", sa.Column("retention_days", sa.Integer(), server_default="30", nullable=False)
    )
    # The daily retention sweep finds a shop's messages older than its period.
    op.create_index(
        "ix_messages_tenant_id_created_at", "messages", ["tenant_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_messages_tenant_id_created_at", table_name="messages")
    op.drop_column("tenants", "retention_days")
    op.drop_column("tenants", "cart_recovery")
    op.drop_column("orders", "discount_code")
    op.drop_column("orders", "discount")
    op.drop_column("carts", "discount_code")
    op.drop_table("coupons")
    op.drop_index("ix_cart_recoveries_tenant_id_status", table_name="cart_recoveries")
    op.drop_table("cart_recoveries")
    op.drop_index("ix_privacy_requests_tenant_id_created_at", table_name="privacy_requests")
    op.drop_table("privacy_requests")
    op.drop_index("ix_consents_tenant_id_customer_id_purpose", table_name="consents")
    op.drop_table("consents")
    op.drop_table("rate_limit_hits")
