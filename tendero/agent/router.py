"""Who answers a message: the guided engine, the assistant, or nobody (a person has it).

Interactive replies (list rows, buttons), locations, catalog orders, checkout inputs and
keywords always go to the guided engine at zero tokens; other text goes to the assistant
when a model is configured. While the conversation waits for (or is with) a person, typed
text gets no bot answer at all.
"""

from __future__ import annotations

from enum import StrEnum

from tendero.agent.guided import GuidedEngine, TurnContext
from tendero.agent.language import detect_language
from tendero.agent.presets import get_preset
from tendero.domain.conversation import Owner
from tendero.domain.messages import InboundKind


class Route(StrEnum):
    """Where one inbound message goes."""

    GUIDED = "guided"
    ASSISTANT = "assistant"
    SILENT = "silent"


def route_message(ctx: TurnContext, *, owner: Owner, model_configured: bool) -> Route:
    """Decide who answers ``ctx.message`` (see module docstring).

    While a person owns the conversation, typed checkout answers (CONFIRM, cancel, the
    address, a quantity) still reach the guided engine; everything else typed is silent.
    """
    message = ctx.message
    if InboundKind(message.kind) is not InboundKind.TEXT or not message.text:
        return Route.GUIDED
    guided = GuidedEngine(ctx)
    if owner in (Owner.WAITING_FOR_HUMAN, Owner.HUMAN):
        # A typed verification code is always taken out of the transcript, even then.
        owned = guided.owns_checkout_text(message.text) or guided.support.owns_code(message.text)
        return Route.GUIDED if owned else Route.SILENT
    if not model_configured or guided.owns_text(message.text):
        return Route.GUIDED
    return Route.ASSISTANT


def refresh_conversation(ctx: TurnContext) -> None:
    """Keep the conversation's business type and language current (before answering).

    A change of the tenant's preset starts a fresh context: nothing said under the old
    business type reaches the assistant again (``context_since``; the summary is dropped).
    The customer's language is taken from confident detections among the shop's languages.
    """
    conversation, tenant = ctx.conversation, ctx.tenant
    business_type = get_preset(tenant.preset).name
    if conversation.business_type != business_type:
        if conversation.business_type is not None:
            conversation.context_since = ctx.message.created_at
            conversation.summary = None
            conversation.summary_through = None
        conversation.business_type = business_type
    if ctx.message.text and InboundKind(ctx.message.kind) is InboundKind.TEXT:
        allowed = list(tenant.languages) or [tenant.language]
        if conversation.language is not None and conversation.language not in allowed:
            conversation.language = None  # the shop no longer answers in it
        detected = detect_language(ctx.message.text, allowed)
        if detected is not None:
            conversation.language = detected
