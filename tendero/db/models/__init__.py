"""ORM tables, one module per aggregate; importing this package registers them all."""

from tendero.db.models.agent import AgentStep, AgentToolCall
from tendero.db.models.cart import Cart, CartItem
from tendero.db.models.catalog import Category, Product, ProductCategory, ProductVariant
from tendero.db.models.conversation import Conversation, InboundEvent, Message
from tendero.db.models.customer import Customer
from tendero.db.models.integration import (
    ApiKey,
    Integration,
    OAuthState,
    StoreEvent,
    SyncCursor,
    SyncRun,
)
from tendero.db.models.mail import OutboundEmail
from tendero.db.models.order import Order, OrderEvent, OrderItem, OrderNumberCounter
from tendero.db.models.privacy import Consent, PrivacyRequest, RateLimitHit
from tendero.db.models.recovery import CartRecovery, Coupon
from tendero.db.models.tenant import Tenant
from tendero.db.models.ticket import Ticket, TicketEvent, TicketNumberCounter
from tendero.db.models.user import User
from tendero.db.models.verification import Verification

__all__ = [
    "AgentStep",
    "AgentToolCall",
    "ApiKey",
    "Cart",
    "CartItem",
    "CartRecovery",
    "Category",
    "Consent",
    "Conversation",
    "Coupon",
    "Customer",
    "InboundEvent",
    "Integration",
    "Message",
    "OAuthState",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OrderNumberCounter",
    "OutboundEmail",
    "PrivacyRequest",
    "Product",
    "ProductCategory",
    "ProductVariant",
    "RateLimitHit",
    "StoreEvent",
    "SyncCursor",
    "SyncRun",
    "Tenant",
    "Ticket",
    "TicketEvent",
    "TicketNumberCounter",
    "User",
    "Verification",
]
