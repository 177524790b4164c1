"""Workflow IDs built from business keys (DESIGN.md, "Workflows").

One place builds them, so a retried webhook or a double click always lands on the same run.
"""

from __future__ import annotations

from uuid import UUID


def conversation_workflow_id(tenant_id: UUID, channel: str, customer_id: UUID) -> str:
    """``conversation:{tenant}:{channel}:{customer}``."""
    return f"conversation:{tenant_id}:{channel}:{customer_id}"


def checkout_workflow_id(tenant_id: UUID, cart_id: UUID, cart_version: int) -> str:
    """``checkout:{tenant}:{cart}:{cart_version}``; also the order's idempotency key."""
    return f"checkout:{tenant_id}:{cart_id}:{cart_version}"


def sync_workflow_id(integration_id: UUID, resource: str) -> str:
    """``sync:{integration}:{resource}`` (``resource`` may be ``all``)."""
    return f"sync:{integration_id}:{resource}"


def sync_schedule_id(integration_id: UUID) -> str:
    """``sync-schedule:{integration}``: the Temporal Schedule of incremental syncs."""
    return f"sync-schedule:{integration_id}"


def store_event_workflow_id(integration_id: UUID, event_id: UUID) -> str:
    """``store-event:{integration}:{event}``: applies one recorded store webhook."""
    return f"store-event:{integration_id}:{event_id}"


def verification_workflow_id(tenant_id: UUID, conversation_id: UUID) -> str:
    """``verify:{tenant}:{conversation}``: one verification at a time per conversation."""
    return f"verify:{tenant_id}:{conversation_id}"


def ticket_workflow_id(tenant_id: UUID, ticket_number: str) -> str:
    """``ticket:{tenant}:{ticket_number}``."""
    return f"ticket:{tenant_id}:{ticket_number}"


def cart_recovery_workflow_id(tenant_id: UUID, cart_id: UUID) -> str:
    """``cart-recovery:{tenant}:{cart}``."""
    return f"cart-recovery:{tenant_id}:{cart_id}"


def privacy_workflow_id(tenant_id: UUID, request_id: UUID) -> str:
    """``privacy:{tenant}:{request}``: one export or deletion of one customer's data."""
    return f"privacy:{tenant_id}:{request_id}"


RETENTION_SCHEDULE_ID = "retention"
"""The one Temporal Schedule that runs the retention sweep over every tenant."""
