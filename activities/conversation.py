"""The turn activity: route one inbound message and store the decision with it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tendero.agent.guided import GuidedEngine, TurnContext, run_guided_turn
from tendero.agent.guided_support import recent_code_window
from tendero.agent.model import resolve_model_config
from tendero.agent.router import Route, refresh_conversation, route_message
from tendero.db.models import Conversation, Customer, Tenant
from tendero.db.repos.conversations import add_outbound_replies, get_inbound_message
from tendero.domain.conversation import Owner, TurnInput, TurnMode, TurnResult
from tendero.identity import VerificationPolicy, latest_code_request
from tendero.settings import Settings


class ConversationActivities:
    """Activities of the ConversationWorkflow.

    Args:
        sessions: database session factory.
        settings: for the global model configuration (``OPENAI_*``).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        """Inject the session factory and settings."""
        self._sessions = sessions
        self._settings = settings
        self._policy = VerificationPolicy.from_settings(settings)
        self._otp_key = settings.derived_key("otp")

    @activity.defn(name="run_turn")
    async def run_turn(self, data: TurnInput) -> TurnResult:
        """Answer one message with the guided engine, or hand it to the assistant.

        ``data.mode`` (``TurnMode``): ``guided`` always answers with the guided engine;
        ``route`` sends free text to the assistant (``TurnResult.agent``) when a model is
        configured and stays silent on text while a person owns the conversation;
        ``fallback`` answers with the guided engine after the assistant failed.

        Idempotent: the decision is stored on the inbound message row; a retry (or a
        duplicate signal) returns the stored decision without acting again. Cart changes,
        replies to send and the decision commit together or not at all.

        Raises:
            ApplicationError: the message does not belong to this conversation (not retried).
        """
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
            customer = await session.get_one(Customer, ref.customer_id)
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
        return result
