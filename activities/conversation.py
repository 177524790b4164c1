"""The turn activity: route one inbound message and store the decision with it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.recovery import RecoveryTrigger
from tendero.agent.guided import GuidedEngine, TurnContext, run_guided_turn
from tendero.agent.guided_support import recent_code_window
from tendero.agent.model import resolve_model_config
from tendero.agent.router import Route, refresh_conversation, route_message
from tendero.agent.texts import t
from tendero.db.models import Conversation, Customer, Message, Tenant
from tendero.db.repos.conversations import add_outbound_replies, get_inbound_message
from tendero.domain.conversation import Owner, TurnInput, TurnMode, TurnResult
from tendero.domain.messages import Reply
from tendero.identity import VerificationPolicy, latest_code_request
from tendero.ratelimit import THROTTLED
from tendero.settings import Settings


class ConversationActivities:
    """Activities of the ConversationWorkflow.

    Args:
        sessions: database session factory.
        settings: for the global model configuration (``OPENAI_*``).
        recovery: signals the cart's AbandonedCartWorkflow after a turn (``None``: never).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        recovery: RecoveryTrigger | None = None,
    ) -> None:
        """Inject the session factory, settings and the cart-recovery trigger."""
        self._sessions = sessions
        self._settings = settings
        self._recovery = recovery
        self._policy = VerificationPolicy.from_settings(settings)
        self._otp_key = settings.derived_key("otp")

    @activity.defn(name="run_turn")
    async def run_turn(self, data: TurnInput) -> TurnResult:
        """Answer one message with the guided engine, or hand it to the assistant.

        ``data.mode`` (``TurnMode``): ``guided`` always answers with the guided engine;
        ``route`` sends free text to the assistant (``TurnResult.agent``) when a model is
        configured and stays silent on text while a person owns the conversation;
        ``fallback`` answers with the guided engine after the assistant failed.

        ``data.merged_message_ids``: a burst; the texts of those earlier messages and of
        ``data.message_id`` are answered as one message, joined with newlines (those
        rows get status ``merged``). A message with status ``throttled`` (over an inbound
        limit) gets only the slow-down notice.

        Idempotent: the decision is stored on the inbound message row; a retry (or a
        duplicate signal) returns the stored decision without acting again. Cart changes,
        replies to send and the decision commit together or not at all.

        Raises:
            ApplicationError: the message does not belong to this conversation (not retried).
        """
        result = await self._turn(data)
        if self._recovery is not None:
            # After the commit: start, reset or stop the cart's recovery drip (idempotent).
            ref = data.conversation
            await self._recovery.customer_changed(ref.tenant_id, ref.customer_id)
        return result

    async def _turn(self, data: TurnInput) -> TurnResult:
        ref = data.conversation
        async with self._sessions() as session, session.begin():
            message = await get_inbound_message(
                session,
                tenant_id=ref.tenant_id,
                conversation_id=ref.conversation_id,
                message_id=data.message_id,
                lock=True,
            )
            if message is None:
                raise ApplicationError("message not found", type="NotFound", non_retryable=True)
            if message.turn_result is not None:
                stored = TurnResult.model_validate(message.turn_result)
                # Only a fallback replaces a stored hand-over to the assistant.
                if not (data.mode is TurnMode.FALLBACK and stored.agent):
                    return stored
            conversation = await session.get_one(Conversation, ref.conversation_id)
            tenant = await session.get_one(Tenant, ref.tenant_id)
            if message.status == THROTTLED:
                return await _slow_down(session, tenant, conversation, message)
            customer = await session.get_one(Customer, ref.customer_id)
            earlier = await _burst_messages(session, data)
            ctx = TurnContext(
                session=session,
                tenant=tenant,
                customer=customer,
                conversation=conversation,
                message=message,
                checkout=data.checkout,
                fallback=data.mode is TurnMode.FALLBACK,
                verification=self._policy,
                otp_key=self._otp_key,
                code_request=await latest_code_request(
                    session,
                    conversation_id=conversation.id,
                    since=message.created_at - recent_code_window(self._policy),
                ),
            )
            if earlier:
                _merge_burst(ctx, earlier)
            result = None
            if data.mode is TurnMode.ROUTE:
                refresh_conversation(ctx)
                configured = (
                    resolve_model_config(tenant, self._settings, self._settings.keyring) is not None
                )
                # Postgres has the owner an operator or a tool set last; the workflow's copy
                # may lag behind by one turn.
                owner = Owner(conversation.owner)
                route = route_message(ctx, owner=owner, model_configured=configured)
                if route is Route.SILENT:
                    stage = "human" if owner is Owner.HUMAN else "handoff"
                    result = TurnResult(stage=stage)
                elif route is Route.ASSISTANT:
                    # A pending quantity prompt no longer applies once the talk moves on.
                    conversation.ui_state = {}
                    engine = GuidedEngine(ctx)
                    await engine.support.follow_up()
                    result = TurnResult(
                        agent=True, stage="assistant", commands=engine.decision.commands
                    )
            if result is None:
                decision = await run_guided_turn(ctx)
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
            if data.mode is not TurnMode.GUIDED:
                result.owner = Owner(conversation.owner)
            message.turn_result = result.model_dump(mode="json")
            message.status = "received" if result.agent else "processed"
            for row in earlier:
                row.status = MERGED
        return result


# ``messages.status`` of a text answered as part of a later message's turn (a burst).
MERGED = "merged"


async def _slow_down(
    session: AsyncSession, tenant: Tenant, conversation: Conversation, message: Message
) -> TurnResult:
    """The one notice for a customer over an inbound limit: no routing, no engine, no model.

    The message keeps its ``throttled`` status; the decision is stored like any turn's.
    """
    language = conversation.language or tenant.language
    outbound_ids = await add_outbound_replies(
        session,
        conversation_id=conversation.id,
        tenant_id=tenant.id,
        replies=[Reply.text(t(language, "slow_down"))],
        key_prefix=f"turn:{message.id}",
    )
    # The workflow keeps its stage for a notice; ``stage`` here is never applied.
    result = TurnResult(outbound_ids=outbound_ids)
    message.turn_result = result.model_dump(mode="json")
    return result


async def _burst_messages(session: AsyncSession, data: TurnInput) -> list[Message]:
    """The earlier text messages of a burst (``data.merged_message_ids``), oldest first.

    Only inbound messages of this conversation and tenant count; others are ignored.
    """
    if not data.merged_message_ids:
        return []
    ref = data.conversation
    rows = await session.execute(
        select(Message).where(
            Message.id.in_(data.merged_message_ids),
            Message.conversation_id == ref.conversation_id,
            Message.tenant_id == ref.tenant_id,
            Message.direction == "in",
        )
    )
    found = {row.id: row for row in rows.scalars()}
    return [found[i] for i in data.merged_message_ids if i in found]


def _merge_burst(ctx: TurnContext, earlier: list[Message]) -> None:
    """Make ``ctx`` answer a burst: its texts joined with newlines, as one message.

    The joined text is set on the turn's message in memory only (never written: each row
    keeps the text the customer wrote). A text that a step is waiting for on its own (a
    verification code, CONFIRM, cancel, a quantity) is not merged: the last such message is
    answered alone, so a code is still hashed and redacted. While the checkout waits for
    the address, a burst is one address typed over several messages: joined.
    """
    burst = [*earlier, ctx.message]
    engine = GuidedEngine(ctx)
    for row in reversed(burst):
        if row.text and engine.answers_alone(row.text):
            ctx.message = row
            return
    texts = [row.text for row in burst if row.text]
    set_committed_value(ctx.message, "text", "\n".join(texts))
