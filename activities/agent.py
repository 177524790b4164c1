"""The assistant's activities: one model round, each tool, and owner changes.

A model round reads its context from Postgres, calls the model outside any transaction
(a slow model must not hold row locks), then stores the answer once under
(message, round): a retried or duplicated round returns what was stored and never calls
the model again. Tool calls are stored with the round and run by their own activities.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.recovery import RecoveryTrigger
from tendero.agent import context as agent_context
from tendero.agent.model import (
    ModelClients,
    ModelConfig,
    ModelReply,
    ToolCall,
    resolve_model_config,
)
from tendero.agent.presets import Preset, get_preset
from tendero.agent.prompts import SUMMARY_PROMPT, SYSTEM_PROMPT, summary_prompt, system_prompt
from tendero.agent.texts import t
from tendero.agent.tools import TOOLS, ToolContext, run_tool, tool_definitions
from tendero.db.base import utcnow
from tendero.db.models import AgentStep, AgentToolCall, Conversation, Customer, Message, Tenant
from tendero.db.repos import agent as agent_repo
from tendero.db.repos.conversations import add_outbound_replies, get_inbound_message
from tendero.domain.agent import (
    AgentStepInput,
    AgentStepResult,
    OwnerChangeInput,
    OwnerChangeResult,
    ToolCallInput,
    ToolCallRef,
    ToolOutcome,
)
from tendero.domain.conversation import ConversationRef, Owner
from tendero.domain.messages import Reply
from tendero.errors import ModelError, ModelUnavailable
from tendero.settings import Settings

logger = logging.getLogger(__name__)

# WhatsApp text bodies hold 4096 characters.
MAX_REPLY_CHARS = 4096
# More calls than this in one round are answered with an error instead of being run.
MAX_CALLS_PER_ROUND = 8
# Tools that change the cart: the cart's recovery drip hears of it after they commit.
CART_TOOLS = frozenset({"add_to_cart"})


async def _inbound(session: AsyncSession, ref: ConversationRef, message_id: Any) -> Message:
    message = await get_inbound_message(
        session,
        tenant_id=ref.tenant_id,
        conversation_id=ref.conversation_id,
        message_id=message_id,
    )
    if message is None:
        raise ApplicationError("message not found", type="NotFound", non_retryable=True)
    return message


def _step_result(step: AgentStep, pending: list[AgentToolCall]) -> AgentStepResult:
    if step.outbound_ids:
        return AgentStepResult(done=True, outbound_ids=[*step.outbound_ids])
    return AgentStepResult(
        done=False, tool_calls=[ToolCallRef(call_id=c.call_id, name=c.name) for c in pending]
    )


def _model_failure(err: ModelError) -> ApplicationError:
    retryable = isinstance(err, ModelUnavailable)
    delay = timedelta(seconds=err.retry_after_s) if err.retry_after_s else None
    return ApplicationError(
        str(err), type=type(err).__name__, non_retryable=not retryable, next_retry_delay=delay
    )


def _normalised_calls(calls: tuple[ToolCall, ...], round_: int) -> list[ToolCall]:
    """Tool calls with usable ids: unique in the round and at most 100 characters.

    Some OpenAI-compatible servers send empty or repeated ids for parallel calls; the id
    must match between the assistant message and each tool result of the next request.
    """
    seen: set[str] = set()
    normalised = []
    for position, call in enumerate(calls):
        call_id = call.id
        if not call_id or call_id in seen or len(call_id) > 100:
            call_id = f"call_{round_}_{position}"
        seen.add(call_id)
        normalised.append(ToolCall(id=call_id, name=call.name[:64], arguments=call.arguments))
    return normalised


class AgentActivities:
    """The model round and owner-change activities.

    Args:
        sessions: database session factory.
        settings: model settings (``OPENAI_*``, ``AGENT_*``) and the secret key.
        clients: the shared ``AsyncOpenAI`` clients.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clients: ModelClients,
    ) -> None:
        """Inject clients and settings."""
        self._sessions = sessions
        self._settings = settings
        self._clients = clients

    @activity.defn(name="agent_model_step")
    async def model_step(self, data: AgentStepInput) -> AgentStepResult:
        """One round of the assistant for an inbound message.

        Round 0 first refreshes the running summary when enough messages fell out of the
        recent window. The last allowed round (``AGENT_MAX_TOOL_ROUNDS``) forbids tools, so
        a turn always ends with a reply.

        Returns:
            ``done`` with the stored reply ids, or the tool calls to run next.

        Raises:
            ApplicationError: ``ModelUnavailable`` (retried), ``ModelRejected`` or
                ``ModelNotConfigured`` (not retried: the workflow falls back to guided).
        """
        ref = data.conversation
        async with self._sessions() as session:
            message = await _inbound(session, ref, data.message_id)
            stored = await agent_repo.get_step(
                session, message_id=message.id, kind="turn", round_=data.round
            )
            if stored is not None:
                pending = await agent_repo.pending_calls(
                    session, message_id=message.id, round_=data.round
                )
                return _step_result(stored, pending)
            tenant = await session.get_one(Tenant, ref.tenant_id)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            customer = await session.get_one(Customer, ref.customer_id)
            config = resolve_model_config(tenant, self._settings, self._settings.keyring)
            if config is None:
                raise ApplicationError(
                    "no model configured", type="ModelNotConfigured", non_retryable=True
                )
            preset = get_preset(tenant.preset)
            language = conversation.language or tenant.language
            window = await agent_context.recent_messages(
                session, conversation, message, window=self._settings.agent_context_messages
            )
            older: list[Message] = []
            if data.round == 0 and window:
                older = await agent_context.unsummarised_messages(
                    session, conversation, message, older_than=window[0].created_at
                )
            prompt = system_prompt(
                preset,
                company_name=tenant.name,
                assistant_name=tenant.assistant_name,
                language=language,
                currency=tenant.currency,
                today=utcnow(),
                customer_name=customer.name,
            )
            history = agent_context.history_messages(window)
            history.append({"role": "user", "content": agent_context.message_line(message)})
            history += await agent_context.turn_rounds(session, message, before_round=data.round)
        # The session is closed: no connection is held while the model thinks.
        summary = conversation.summary
        if len(older) >= self._settings.agent_summary_batch:
            summary = await self._refresh_summary(
                config, preset, tenant, conversation, message, older
            )
        chat: list[dict[str, Any]] = [{"role": "system", "content": prompt}]
        if summary:
            chat.append(
                {"role": "system", "content": f"Summary of the earlier conversation: {summary}"}
            )
        chat += history
        last_round = data.round >= self._settings.agent_max_tool_rounds
        try:
            reply = await self._clients.chat(
                config,
                chat,
                tools=tool_definitions(preset.tools),
                tool_choice="none" if last_round else "auto",
            )
        except ModelError as err:
            logger.warning(
                "model call failed for conversation %s round %d: %s",
                ref.conversation_id,
                data.round,
                err,
            )
            raise _model_failure(err) from None
        return await self._store_round(data, config, preset, language, reply, last_round)

    async def _refresh_summary(
        self,
        config: ModelConfig,
        preset: Preset,
        tenant: Tenant,
        conversation: Conversation,
        message: Message,
        older: list[Message],
    ) -> str | None:
        """Fold messages older than the window into the running summary.

        The summary is an optimisation: if the model cannot make it, the round goes on
        with the previous summary (the next round 0 tries again).

        Returns:
            The summary to use (new, or the previous one).
        """
        previous = f"Summary so far: {conversation.summary}\n\n" if conversation.summary else ""
        try:
            reply = await self._clients.chat(
                config,
                [
                    {"role": "system", "content": summary_prompt(preset, company_name=tenant.name)},
                    {"role": "user", "content": previous + agent_context.transcript_text(older)},
                ],
            )
        except ModelError as err:
            logger.warning("summary for conversation %s not refreshed: %s", conversation.id, err)
            return conversation.summary
        text = (reply.content or "").strip()[:4000]
        async with self._sessions() as write, write.begin():
            step = await agent_repo.insert_step(
                write,
                {
                    **self._usage_values(message, config, reply, kind="summary", round_=0),
                    "prompt_version": SUMMARY_PROMPT,
                },
            )
            if step is None or not text:
                return conversation.summary
            stored = await write.get_one(Conversation, conversation.id)
            stored.summary = text
            stored.summary_through = older[-1].created_at
        return text

    def _usage_values(
        self, message: Message, config: ModelConfig, reply: ModelReply, *, kind: str, round_: int
    ) -> dict[str, Any]:
        return {
            "tenant_id": message.tenant_id,
            "conversation_id": message.conversation_id,
            "message_id": message.id,
            "kind": kind,
            "round": round_,
            "model": config.model[:100],
            "content": reply.content,
            "finish_reason": reply.finish_reason,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "latency_ms": reply.latency_ms,
        }

    async def _store_round(
        self,
        data: AgentStepInput,
        config: ModelConfig,
        preset: Preset,
        language: str,
        reply: ModelReply,
        last_round: bool,
    ) -> AgentStepResult:
        ref = data.conversation
        final = last_round or not reply.tool_calls
        calls = [] if final else _normalised_calls(reply.tool_calls, data.round)
        async with self._sessions() as session, session.begin():
            message = await _inbound(session, ref, data.message_id)
            values = self._usage_values(message, config, reply, kind="turn", round_=data.round)
            values["prompt_version"] = SYSTEM_PROMPT
            values["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls
            ]
            step = await agent_repo.insert_step(session, values)
            if step is None:  # a concurrent attempt stored this round first
                stored = await agent_repo.get_step(
                    session, message_id=message.id, kind="turn", round_=data.round
                )
                assert stored is not None
                pending = await agent_repo.pending_calls(
                    session, message_id=message.id, round_=data.round
                )
                return _step_result(stored, pending)
            if final:
                text = (reply.content or "").strip() or t(language, "assistant_no_answer")
                outbound_ids = await add_outbound_replies(
                    session,
                    conversation_id=ref.conversation_id,
                    tenant_id=ref.tenant_id,
                    replies=[Reply.text(text[:MAX_REPLY_CHARS])],
                    key_prefix=f"agent:{message.id}",
                )
                step.outbound_ids = [str(i) for i in outbound_ids]
                message.status = "processed"
                return AgentStepResult(done=True, outbound_ids=outbound_ids)
            runnable: list[ToolCallRef] = []
            for position, call in enumerate(calls):
                row = AgentToolCall(
                    tenant_id=ref.tenant_id,
                    message_id=message.id,
                    round=data.round,
                    position=position,
                    call_id=call.id,
                    name=call.name[:64],
                    arguments=call.arguments,
                )
                error = None
                if call.name not in preset.tools or call.name not in TOOLS:
                    error = {"error": "unknown_tool", "message": f"No tool {call.name!r}."}
                elif position >= MAX_CALLS_PER_ROUND:
                    error = {"error": "too_many_calls", "message": "Call fewer tools at once."}
                if error is not None:
                    row.status, row.result, row.completed_at = "error", error, utcnow()
                else:
                    runnable.append(ToolCallRef(call_id=row.call_id, name=row.name))
                session.add(row)
            return AgentStepResult(done=False, tool_calls=runnable)

    @activity.defn(name="set_conversation_owner")
    async def set_owner(self, data: OwnerChangeInput) -> OwnerChangeResult:
        """Record who answers the conversation and store the customer's notice.

        Idempotent by ``data.key`` (the workflow update's id).
        """
        ref = data.conversation
        async with self._sessions() as session, session.begin():
            conversation = await session.get_one(Conversation, ref.conversation_id)
            tenant = await session.get_one(Tenant, ref.tenant_id)
            conversation.owner = data.owner.value
            key = {Owner.BOT: "handed_back", Owner.HUMAN: "human_took_over"}.get(data.owner)
            outbound_ids = []
            if key is not None:
                language = conversation.language or tenant.language
                outbound_ids = await add_outbound_replies(
                    session,
                    conversation_id=conversation.id,
                    tenant_id=tenant.id,
                    replies=[Reply.text(t(language, key))],
                    key_prefix=f"owner:{data.key}",
                )
        return OwnerChangeResult(owner=data.owner, outbound_ids=outbound_ids)


class AgentToolActivities:
    """One activity per tool (``tool.{name}``), all running through ``run_tool``.

    Args:
        sessions: database session factory.
        recovery: signals the cart's AbandonedCartWorkflow after a cart tool (``None``: never).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        recovery: RecoveryTrigger | None = None,
    ) -> None:
        """Inject the session factory and the cart-recovery trigger."""
        self._sessions = sessions
        self._recovery = recovery

    async def _run(self, data: ToolCallInput, name: str) -> ToolOutcome:
        """Run the tool (``_call``); after a cart tool's commit, update the cart's drip."""
        outcome = await self._call(data, name)
        if self._recovery is not None and name in CART_TOOLS:
            ref = data.conversation
            await self._recovery.customer_changed(ref.tenant_id, ref.customer_id)
        return outcome

    async def _call(self, data: ToolCallInput, name: str) -> ToolOutcome:
        """Run a stored tool call once, as the conversation's customer.

        The tool's writes, its result for the model and the outcome for the workflow
        commit together; a retry returns the stored outcome.

        Raises:
            ApplicationError: the call is not stored under this tool's name (not retried).
        """
        ref = data.conversation
        async with self._sessions() as session, session.begin():
            call = await agent_repo.get_call_for_update(
                session,
                tenant_id=ref.tenant_id,
                message_id=data.message_id,
                round_=data.round,
                call_id=data.call_id,
            )
            if call is None or call.name != name:
                raise ApplicationError("tool call not found", type="NotFound", non_retryable=True)
            if call.status != "pending":
                return ToolOutcome.model_validate(call.outcome or {"ok": call.status == "ok"})
            message = await _inbound(session, ref, data.message_id)
            tenant = await session.get_one(Tenant, ref.tenant_id)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            ctx = ToolContext(
                session=session,
                tenant=tenant,
                customer=await session.get_one(Customer, ref.customer_id),
                conversation=conversation,
                message=message,
                preset=get_preset(tenant.preset),
                language=conversation.language or tenant.language,
                checkout=data.checkout,
                now=utcnow(),
            )
            result = await run_tool(ctx, name, call.arguments)
            outcome = ToolOutcome(ok=result.ok, commands=result.commands)
            call.status = "ok" if result.ok else "error"
            call.result = result.content
            call.outcome = outcome.model_dump(mode="json")
            call.completed_at = utcnow()
        return outcome

    @activity.defn(name="tool.search_ecommerce_products")
    async def search_ecommerce_products(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.catalog.search_ecommerce_products``."""
        return await self._run(data, "search_ecommerce_products")

    @activity.defn(name="tool.get_ecommerce_order")
    async def get_ecommerce_order(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.orders.get_ecommerce_order``."""
        return await self._run(data, "get_ecommerce_order")

    @activity.defn(name="tool.get_active_orders")
    async def get_active_orders(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.orders.get_active_orders``."""
        return await self._run(data, "get_active_orders")

    @activity.defn(name="tool.add_to_cart")
    async def add_to_cart(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.catalog.add_to_cart``."""
        return await self._run(data, "add_to_cart")

    @activity.defn(name="tool.view_cart")
    async def view_cart(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.catalog.view_cart``."""
        return await self._run(data, "view_cart")

    @activity.defn(name="tool.create_ecommerce_order")
    async def create_ecommerce_order(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.catalog.create_ecommerce_order``."""
        return await self._run(data, "create_ecommerce_order")

    @activity.defn(name="tool.create_ticket_report")
    async def create_ticket_report(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.support.create_ticket_report``."""
        return await self._run(data, "create_ticket_report")

    @activity.defn(name="tool.get_ticket_information")
    async def get_ticket_information(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.support.get_ticket_information``."""
        return await self._run(data, "get_ticket_information")

    @activity.defn(name="tool.request_human_agent")
    async def request_human_agent(self, data: ToolCallInput) -> ToolOutcome:
        """See ``tendero.agent.tools.support.request_human_agent``."""
        return await self._run(data, "request_human_agent")

    def all(self) -> list[Any]:
        """Every tool activity, for the worker."""
        return [
            self.search_ecommerce_products,
            self.get_ecommerce_order,
            self.get_active_orders,
            self.add_to_cart,
            self.view_cart,
            self.create_ecommerce_order,
            self.create_ticket_report,
            self.get_ticket_information,
            self.request_human_agent,
        ]
