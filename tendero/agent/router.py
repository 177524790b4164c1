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
from tendero.domain.conversation import Owner
from tendero.domain.messages import InboundKind


class Route(StrEnum):
    """Where one inbound message goes."""

    GUIDED = "guided"
    ASSISTANT = "assistant"
    SILENT = "silent"


def route_message(ctx: TurnContext, *, owner: Owner, model_configured: bool) -> Route:
    """Decide who answers ``ctx.message`` (see module docstring)."""
    message = ctx.message
    is_text = InboundKind(message.kind) is InboundKind.TEXT and bool(message.text)
    if owner in (Owner.WAITING_FOR_HUMAN, Owner.HUMAN) and is_text:
        return Route.SILENT
    if not is_text or not model_configured:
        return Route.GUIDED
    assert message.text is not None
    return Route.GUIDED if GuidedEngine(ctx).owns_text(message.text) else Route.ASSISTANT


def refresh_conversation(ctx: TurnContext) -> None:
    """Keep the conversation's business type and language current (before answering).

    A change of the tenant's preset starts a fresh context: nothing said under the old
    business type reaches the assistant again (``context_since``; the summary is dropped).
    The customer's language is taken from confident detections among the shop's languages.
    """
    conversation, tenant = ctx.conversation, ctx.tenant
    if conversation.business_type != tenant.preset:
        if conversation.business_type is not None:
            conversation.context_since = ctx.message.created_at
            conversation.summary = None
            conversation.summary_through = None
        conversation.business_type = tenant.preset
    if ctx.message.text and InboundKind(ctx.message.kind) is InboundKind.TEXT:
        allowed = list(tenant.languages) or [tenant.language]
        detected = detect_language(ctx.message.text, allowed)
        if detected is not None:
            conversation.language = detected
