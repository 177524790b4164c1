"""Shared workflow pieces: typed search attributes and activity retry policies.

Search attributes carry internal ids and numbers only, never a phone number, e-mail or
address: Temporal stores them unencrypted (DESIGN.md, "Workflows").
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from tendero.domain.activities import DeliverInput, DeliverResult
    from tendero.domain.conversation import ConversationRef

TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_NUMBER = SearchAttributeKey.for_keyword("OrderNumber")
TICKET_NUMBER = SearchAttributeKey.for_keyword("TicketNumber")
STAGE = SearchAttributeKey.for_keyword("Stage")
INTEGRATION_ID = SearchAttributeKey.for_keyword("IntegrationId")

ALL_SEARCH_ATTRIBUTES = (TENANT_ID, CUSTOMER_ID, ORDER_NUMBER, TICKET_NUMBER, STAGE, INTEGRATION_ID)

# Database work is idempotent: it retries until the database is back (a failover or a
# restart must not fail a conversation); non-retryable errors still stop at once.
DB_TIMEOUT = timedelta(seconds=30)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=["NotFound"],
)

# Outbound sends: Meta's rate limits (130429/131056) want patience, not hammering.
SEND_TIMEOUT = timedelta(minutes=2)
SEND_HEARTBEAT = timedelta(seconds=30)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=12,
    non_retryable_error_types=["WindowClosed", "InvalidToken", "RecipientUnreachable"],
)


async def deliver(conversation: ConversationRef, outbound_ids: list[UUID], what: str) -> None:
    """Send stored messages; when retries run out, log (ids only) and let the caller go on.

    The messages stay in Postgres with their status for operators to see; a conversation or
    checkout must not fail because the provider was down for minutes.
    """
    if not outbound_ids:
        return
    try:
        await workflow.execute_activity(
            "deliver_messages",
            DeliverInput(conversation=conversation, outbound_ids=outbound_ids),
            start_to_close_timeout=SEND_TIMEOUT,
            heartbeat_timeout=SEND_HEARTBEAT,
            retry_policy=SEND_RETRY,
            result_type=DeliverResult,
        )
    except ActivityError as err:
        workflow.logger.warning(
            "%s %s could not be delivered: %s", what, outbound_ids, type(err.cause).__name__
        )
