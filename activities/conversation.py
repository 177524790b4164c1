"""The turn activity: answer one inbound message and store the decision with it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from tendero.agent.guided import TurnContext, run_guided_turn
from tendero.db.models import Conversation, Customer, Message, Tenant
from tendero.db.repos.conversations import add_outbound_replies
from tendero.domain.conversation import TurnInput, TurnResult


class ConversationActivities:
    """Activities of the ConversationWorkflow.

    Args:
        sessions: database session factory.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Inject the session factory."""
        self._sessions = sessions

    @activity.defn(name="run_turn")
    async def run_turn(self, data: TurnInput) -> TurnResult:
        """Run the guided engine for one message, in one transaction.

        Idempotent: the decision is stored on the inbound message row; a retry (or a
        duplicate signal) returns the stored decision without acting again. Cart changes,
        replies to send and the decision commit together or not at all.

        Raises:
            ApplicationError: the message does not belong to this conversation (not retried).
        """
        ref = data.conversation
        async with self._sessions() as session, session.begin():
            message = (
                await session.execute(
                    select(Message)
                    .where(
                        Message.id == data.message_id,
                        Message.conversation_id == ref.conversation_id,
                        Message.tenant_id == ref.tenant_id,
                        Message.direction == "in",
                    )
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if message is None:
                from temporalio.exceptions import ApplicationError

                raise ApplicationError("message not found", type="NotFound", non_retryable=True)
            if message.turn_result is not None:
                return TurnResult.model_validate(message.turn_result)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            tenant = await session.get_one(Tenant, ref.tenant_id)
            customer = await session.get_one(Customer, ref.customer_id)
            decision = await run_guided_turn(
                TurnContext(
                    session=session,
                    tenant=tenant,
                    customer=customer,
                    conversation=conversation,
                    message=message,
                    checkout=data.checkout,
                )
            )
            outbound_ids = await add_outbound_replies(
                session,
                conversation_id=conversation.id,
                tenant_id=tenant.id,
                replies=decision.replies,
                key_prefix=f"turn:{message.id}",
            )
            conversation.ui_state = decision.ui_state
            result = TurnResult(
                outbound_ids=outbound_ids, commands=decision.commands, stage=decision.stage
            )
            message.turn_result = result.model_dump(mode="json")
            message.status = "processed"
        return result
