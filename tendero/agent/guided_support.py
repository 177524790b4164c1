"""Guided steps for identity verification and support tickets (no model, no tokens).

- Verification: "verify" asks for the e-mail; a typed e-mail starts an OTP verification; an
  e-mail written with an order number starts a simple one; a typed 6-digit code, while the
  conversation has a recent OTP request, is replaced in the transcript and passed on as its
  keyed hash. The model never sees any of it.
- Tickets: the help menu's "Report a problem" lists the preset's categories, then the next
  message (and any photos sent meanwhile) becomes the ticket; photos sent later and
  messages on a ticket that waits for the customer or is resolved go to its TicketWorkflow;
  a tap on a rating button after resolution rates it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tendero import recovery
from tendero.agent.presets import get_preset
from tendero.db.models import Ticket
from tendero.db.repos import tickets as tickets_repo
from tendero.domain.conversation import (
    StartTicket,
    StartVerification,
    SubmitVerificationCode,
    TicketCustomerActivity,
)
from tendero.domain.ids import verification_workflow_id
from tendero.domain.messages import Button, ListRow, ListSection, Reply
from tendero.identity import (
    REDACTED_CODE,
    Level,
    RequestOutcome,
    VerificationPolicy,
    code_hash,
    find_email,
    mask_email,
    parse_code,
    request_verification,
)

VERIFY_WORDS = {
    "verify",
    "verify email",
    "verify my email",
    "verificar",
    "verificar correo",
    "orders by email",
    "pedidos por correo",
}
AWAIT_EMAIL = "verify_email"
AWAIT_TICKET = "ticket_description"
# States in which a customer's message is news for the ticket's workflow.
FOLLOW_UP_STATES = ("waiting_on_customer", "resolved")
SUBJECT_CHARS = 80
# "my e-mail is ana@example.com", "mi correo es ...": a few words around the address.
MAX_WORDS_AROUND_EMAIL = 4


class SupportSteps:
    """The verification and ticket steps of one guided turn.

    Args:
        engine: the guided engine of the turn (``tendero.agent.guided.GuidedEngine``); its
            context, decision and reply helpers are used as they are.
    """

    def __init__(self, engine: Any) -> None:
        """Bind to the turn's engine."""
        self.engine = engine
        self.ctx = engine.ctx
        self.decision = engine.decision
        self._t: Callable[..., str] = engine._t

    def _say(self, key: str, **values: Any) -> None:
        self.decision.replies.append(Reply.text(self._t(key, **values)))

    @property
    def _policy(self) -> VerificationPolicy:
        policy: VerificationPolicy | None = self.ctx.verification
        if policy is None:
            raise RuntimeError("the turn context has no verification policy")
        return policy

    # -- text ----------------------------------------------------------------------------------

    def owns_code(self, raw: str) -> bool:
        """True for a typed code while the conversation has a recent OTP request."""
        return parse_code(raw) is not None and self.ctx.code_request is not None

    def owns_text(self, raw: str, lowered: str) -> bool:
        """True when this text is a verification or ticket step (never for the model)."""
        awaiting = self.ctx.conversation.ui_state.get("awaiting")
        return (
            self.owns_code(raw)
            or awaiting in (AWAIT_EMAIL, AWAIT_TICKET)
            or lowered in VERIFY_WORDS
            or self._email_request(raw) is not None
            or recovery.chat_intent(raw) is not None
        )

    def _email_request(self, raw: str) -> str | None:
        """The e-mail of a message that is about little else ("my email is ana@x.com").

        A longer sentence that merely contains an address (a question for the assistant,
        or an attempt to look up someone else) does not start a verification.
        """
        email = find_email(raw)
        if email is None:
            return None
        rest = raw.lower().replace(email, " ")
        number = self.engine.order_number_in(raw)
        if number is not None:
            rest = rest.replace(number.lower(), " ")
        words = [w for w in rest.replace(",", " ").replace(":", " ").split() if w.isalpha()]
        return email if len(words) <= MAX_WORDS_AROUND_EMAIL else None

    async def handle_code(self, raw: str) -> bool:
        """A typed code while an OTP request is recent: hash it, keep it out of the chat."""
        request = self.ctx.code_request
        code = parse_code(raw)
        if request is None or code is None:
            return False
        self.ctx.message.text = REDACTED_CODE
        status = request.status
        self.decision.stage = "verifying"
        if status in ("pending", "code_sent"):
            self.decision.commands.append(
                SubmitVerificationCode(
                    verification_id=request.id,
                    code_hash=code_hash(self.ctx.otp_key, request.id, code),
                    message_id=self.ctx.message.id,
                )
            )
        elif status == "locked":
            self._say("verify_locked", minutes=int(self._policy.lock.total_seconds()) // 60)
        elif status == "verified":
            self._say("verify_already", email=mask_email(request.email))
        else:
            self._say("verify_expired")
        return True

    async def handle_text(self, raw: str, lowered: str) -> bool:
        """Verification, ticket and marketing steps for typed text; False when none applies."""
        awaiting = self.ctx.conversation.ui_state.get("awaiting")
        if awaiting == AWAIT_TICKET:
            await self._open_ticket(raw)
            return True
        if await recovery.answer_chat(self.engine, raw):  # stop / subscribe / resume code
            return True
        email = self._email_request(raw)
        if email is not None:
            number = self.engine.order_number_in(raw)
            level = Level.SIMPLE if number else Level.OTP
            await self._request(raw_email=email, level=level, order_number=number)
            return True
        if awaiting == AWAIT_EMAIL or lowered in VERIFY_WORDS:
            if awaiting == AWAIT_EMAIL and lowered not in VERIFY_WORDS:
                self._say("verify_invalid_email")
            else:
                self._say("verify_ask_email")
            self.decision.ui_state = {"awaiting": AWAIT_EMAIL}
            return True
        return False

    async def _request(self, *, raw_email: str, level: Level, order_number: str | None) -> None:
        ctx = self.ctx
        policy = self._policy
        outcome, row = await request_verification(
            ctx.session,
            tenant_id=ctx.tenant.id,
            conversation_id=ctx.conversation.id,
            customer_id=ctx.customer.id,
            raw_email=raw_email,
            level=level,
            order_number=order_number,
            purpose="orders",
            workflow_id=verification_workflow_id(ctx.tenant.id, ctx.conversation.id),
            policy=policy,
            now=ctx.message.created_at,
        )
        self.decision.stage = "verifying"
        if outcome is RequestOutcome.INVALID_EMAIL or row is None:
            key = {
                RequestOutcome.RATE_LIMITED: "verify_rate_limited",
                RequestOutcome.LOCKED: "verify_locked",
            }.get(outcome, "verify_invalid_email")
            self._say(key, minutes=int(policy.lock.total_seconds()) // 60)
            return
        if level is Level.OTP:
            self._say(
                "verify_code_sent",
                email=mask_email(row.email),
                shop=ctx.tenant.name,
                minutes=int(policy.code_ttl.total_seconds()) // 60,
            )
        else:
            self._say("verify_checking", email=mask_email(row.email), number=row.order_number)
        self.decision.commands.append(
            StartVerification(
                verification_id=row.id,
                level=level.value,
                code_ttl_s=int(policy.code_ttl.total_seconds()),
                max_attempts=policy.max_attempts,
            )
        )

    # -- tickets -------------------------------------------------------------------------------

    def help_buttons(self) -> list[Button]:
        """The buttons under the help text."""
        return [
            Button(id="ticket:new", title=self._t("btn_ticket")),
            Button(id="menu", title=self._t("btn_menu")),
        ]

    def pick_category(self) -> None:
        """List the preset's ticket categories."""
        categories = get_preset(self.ctx.tenant.preset).ticket_categories
        self.decision.replies.append(
            Reply(
                kind="list",
                body=self._t("ticket_pick_category"),
                list_button=self._t("list_open"),
                sections=[
                    ListSection(
                        title=self._t("ticket_categories_section"),
                        rows=[
                            ListRow(id=f"tcat:{name}", title=name.replace("_", " ").capitalize())
                            for name in categories[:10]
                        ],
                    )
                ],
            )
        )

    def ask_description(self, category: str) -> bool:
        """Ask for the problem, remembering the category; False for an unknown category."""
        if category not in get_preset(self.ctx.tenant.preset).ticket_categories:
            return False
        self._say("ticket_describe")
        self.decision.ui_state = {"awaiting": AWAIT_TICKET, "category": category, "media": []}
        return True

    async def _open_ticket(self, description: str) -> None:
        ctx = self.ctx
        state = ctx.conversation.ui_state
        preset = get_preset(ctx.tenant.preset)
        text = description.strip()
        ticket = await tickets_repo.create_ticket(
            ctx.session,
            tenant_id=ctx.tenant.id,
            prefix=ctx.tenant.ticket_prefix,
            business_type=preset.name,
            customer_id=ctx.customer.id,
            conversation_id=ctx.conversation.id,
            order_id=None,
            category=str(state.get("category") or "other"),
            subject=text[:SUBJECT_CHARS],
            description=text,
            priority="medium",
            source="guided",
            now=ctx.message.created_at,
            media_ids=[str(m) for m in state.get("media") or []],
        )
        self._say("ticket_opened", number=ticket.number)
        self.decision.commands.append(StartTicket(ticket_id=ticket.id, number=ticket.number))
        self.decision.stage = "ticket"

    async def media(self) -> bool:
        """A photo: kept for the ticket being described, or added to the open ticket."""
        ctx = self.ctx
        media_id = str(ctx.message.content.get("media_id") or "")
        if not media_id:
            return False
        state = ctx.conversation.ui_state
        if state.get("awaiting") == AWAIT_TICKET:
            self.decision.ui_state = {**state, "media": [*(state.get("media") or []), media_id]}
            self._say("ticket_describe")
            return True
        ticket = await self._latest_ticket(open_only=True)
        if ticket is None:
            return False
        self.decision.commands.append(
            TicketCustomerActivity(
                number=ticket.number, message_id=ctx.message.id, media_ids=[media_id]
            )
        )
        self._say("ticket_media_added", number=ticket.number)
        self.decision.stage = "ticket"
        return True

    async def rate(self, rest: str) -> bool:
        """``csat:{number}:{score}``: the customer's own resolved ticket, scores 1-3."""
        number, _, raw_score = rest.rpartition(":")
        if raw_score not in ("1", "2", "3"):
            return False
        ticket = await self._ticket(number)
        if ticket is None or ticket.status not in ("resolved", "closed"):
            return False
        self._say("csat_thanks")
        self.decision.commands.append(
            TicketCustomerActivity(
                number=ticket.number,
                message_id=self.ctx.message.id,
                activity="rating",
                score=int(raw_score),
            )
        )
        return True

    async def follow_up(self) -> None:
        """Tell the latest ticket waiting on the customer (or resolved) that they wrote."""
        ticket = await self._latest_ticket(open_only=False)
        if ticket is None or ticket.status not in FOLLOW_UP_STATES:
            return
        if any(isinstance(c, TicketCustomerActivity) for c in self.decision.commands):
            return
        self.decision.commands.append(
            TicketCustomerActivity(number=ticket.number, message_id=self.ctx.message.id)
        )

    async def _ticket(self, number: str) -> Ticket | None:
        ctx = self.ctx
        found = await ctx.session.execute(
            select(Ticket).where(
                Ticket.tenant_id == ctx.tenant.id,
                Ticket.customer_id == ctx.customer.id,
                Ticket.number == number.upper(),
            )
        )
        ticket: Ticket | None = found.scalar_one_or_none()
        return ticket

    async def _latest_ticket(self, *, open_only: bool) -> Ticket | None:
        ctx = self.ctx
        query = select(Ticket).where(
            Ticket.tenant_id == ctx.tenant.id,
            Ticket.conversation_id == ctx.conversation.id,
            Ticket.status != "closed",
            Ticket.created_at > ctx.message.created_at - timedelta(days=30),
        )
        if open_only:
            query = query.where(Ticket.status.not_in(("resolved", "closed")))
        found = await ctx.session.execute(query.order_by(Ticket.created_at.desc()).limit(1))
        ticket: Ticket | None = found.scalar_one_or_none()
        return ticket


def recent_code_window(policy: VerificationPolicy) -> timedelta:
    """How long after a code request a typed 6-digit message is still taken as a code."""
    return policy.code_ttl + policy.lock
