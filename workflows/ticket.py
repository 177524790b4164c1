"""TicketWorkflow: one support ticket from open to closed, with its SLA timers.

ID ``ticket:{tenant}:{ticket_number}``. Agents act through updates (assign, reply, change
state, note), each checked by a validator before it is accepted; the customer's messages,
photos and rating arrive as a signal from the conversation. Every change is one
``ticket_events`` row written by ``apply_ticket_change`` (with the workflow's time) and
shows in the Temporal UI (current details, ``Stage`` and ``TicketNumber`` attributes).

SLA: the first agent reply is due ``first_response`` after opening, resolution is due
``resolution`` after opening (targets by priority, per tenant). A missed deadline records
``sla_breached``, raises the priority one step (``escalated``), restarts both clocks with the
new priority's targets and e-mails the tenant's agents; an ``urgent`` ticket's breach is
recorded once. A resolved ticket closes by itself after the tenant's auto-close period; a
customer message before that reopens it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tendero.domain.tickets import (
        AGENT_TRANSITIONS,
        AddNote,
        AgentReply,
        AssignTicket,
        ChangeState,
        CustomerActivity,
        NotifyAgentsInput,
        OpenTicketInput,
        TicketChange,
        TicketChangeResult,
        TicketInput,
        TicketSnapshot,
        TicketState,
        TicketStatus,
        next_priority,
    )
    from workflows.common import DB_RETRY, DB_TIMEOUT, STAGE, TENANT_ID, TICKET_NUMBER, deliver

# Mail to agents: a few attempts, then the escalation stands without it (it is in Postgres
# and in the UI either way).
MAIL_TIMEOUT = timedelta(minutes=2)
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=["MailNotConfigured", "NotFound"],
)
# A change the agent's request waits for: a refused window must come back, not be retried.
CHANGE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=["NotFound", "WindowClosed", "NotAllowed"],
)


def ticket_search_attributes(tenant_id: str, number: str) -> TypedSearchAttributes:
    """The attributes a ticket starts with (ids and numbers only)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID, tenant_id),
            SearchAttributePair(TICKET_NUMBER, number),
            SearchAttributePair(STAGE, TicketState.OPEN.value),
        ]
    )


@workflow.defn
class TicketWorkflow:
    """A support ticket's life (see module docstring)."""

    @workflow.init
    def __init__(self, data: TicketInput) -> None:
        """Restore the snapshot carried through continue-as-new, if any."""
        self._data = data
        self._ticket: TicketSnapshot | None = (
            data.snapshot.model_copy(deep=True) if data.snapshot else None
        )
        self._inbox: list[CustomerActivity] = []
        self._lock = asyncio.Lock()
        # Bumped by every change, so the main loop recomputes its timers.
        self._version = 0
        self._seen = 0

    # -- queries, updates, signals -----------------------------------------------------------

    @workflow.query
    def status(self) -> TicketStatus | None:
        """The ticket's state, priority and deadlines (``None`` before it is opened)."""
        return None if self._ticket is None else self._status()

    @workflow.signal
    def customer_activity(self, activity: CustomerActivity) -> None:
        """The customer wrote on this ticket's conversation, sent photos or rated it."""
        self._inbox.append(activity)

    @workflow.update
    async def assign(self, request: AssignTicket) -> TicketStatus:
        """Give the ticket to an agent; the customer is told who handles it."""
        async with self._lock:
            ticket = self._opened()
            state = ticket.state
            if state in (TicketState.OPEN, TicketState.WAITING_ON_CUSTOMER):
                state = TicketState.ASSIGNED
            await self._change(
                kind="assigned",
                actor="agent",
                user_id=request.by_user_id,
                data={"assignee_id": str(request.assignee_id)},
                state=state,
                assignee_id=request.assignee_id,
                notify="assigned",
                retry=CHANGE_RETRY,
            )
            ticket.assignee_id = request.assignee_id
            ticket.state = state
            return self._status()

    @assign.validator
    def _check_assign(self, request: AssignTicket) -> None:
        self._check_open_for_agents()
        if self._ticket is not None and self._ticket.assignee_id == request.assignee_id:
            raise ValueError("the ticket is already assigned to that agent")

    @workflow.update
    async def reply(self, request: AgentReply) -> TicketStatus:
        """Send an agent's answer to the customer (refused outside the 24-hour window)."""
        async with self._lock:
            ticket = self._opened()
            state = ticket.state
            if request.wait_for_customer:
                state = TicketState.WAITING_ON_CUSTOMER
            elif state is TicketState.OPEN and ticket.assignee_id is not None:
                state = TicketState.ASSIGNED
            now = workflow.now()
            await self._change(
                kind="agent_reply",
                actor="agent",
                user_id=request.by_user_id,
                text=request.text,
                state=state,
                first_responded_at=None if ticket.first_responded else now,
                notify="agent_reply",
                enforce_window=True,
                retry=CHANGE_RETRY,
            )
            ticket.first_responded = True
            ticket.state = state
            return self._status()

    @reply.validator
    def _check_reply(self, request: AgentReply) -> None:
        self._check_open_for_agents()
        if self._ticket is not None and self._ticket.conversation is None:
            raise ValueError("this ticket has no conversation to reply in")
        if not request.text.strip():
            raise ValueError("the reply is empty")

    @workflow.update
    async def set_state(self, request: ChangeState) -> TicketStatus:
        """Move the ticket to another state (resolved: the customer is asked for a rating)."""
        async with self._lock:
            ticket = self._opened()
            target = request.state
            if target is TicketState.OPEN and ticket.assignee_id is not None:
                target = TicketState.ASSIGNED
            now = workflow.now()
            resolved = target is TicketState.RESOLVED
            reopened = ticket.state is TicketState.RESOLVED and not resolved
            resolution_due = ticket.resolution_due
            if reopened:
                resolution_due = now + ticket.sla[ticket.priority].resolution
            await self._change(
                kind="state_changed",
                actor="agent",
                user_id=request.by_user_id,
                data={"from": ticket.state.value, "to": target.value},
                state=target,
                resolved_at=now if resolved else None,
                closed_at=now if target is TicketState.CLOSED else None,
                resolution_due=resolution_due,
                notify="resolved" if resolved else "reopened" if reopened else None,
                retry=CHANGE_RETRY,
            )
            ticket.state = target
            ticket.resolved_at = now if resolved else None
            ticket.resolution_due = resolution_due
            return self._status()

    @set_state.validator
    def _check_state(self, request: ChangeState) -> None:
        self._check_open_for_agents()
        assert self._ticket is not None
        current = self._ticket.state
        if request.state is TicketState.ASSIGNED:
            raise ValueError("assign the ticket to an agent instead")
        if request.state is current:
            raise ValueError(f"the ticket is already {current.value}")
        if request.state not in AGENT_TRANSITIONS[current]:
            raise ValueError(f"a {current.value} ticket cannot become {request.state.value}")

    @workflow.update
    async def add_note(self, request: AddNote) -> TicketStatus:
        """Record an internal note (never sent to the customer)."""
        async with self._lock:
            self._opened()
            await self._change(
                kind="note",
                actor="agent",
                user_id=request.by_user_id,
                text=request.text,
                retry=CHANGE_RETRY,
            )
            return self._status()

    @add_note.validator
    def _check_note(self, request: AddNote) -> None:
        if self._ticket is None:
            raise ValueError("the ticket is still being opened; try again")
        if not request.text.strip():
            raise ValueError("the note is empty")

    # -- main loop ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: TicketInput) -> TicketStatus:
        """Open the ticket, then follow its SLA timers and customer activity until closed."""
        if self._ticket is None:
            await self._open(data)
        ticket = self._opened()
        self._show()
        while not self._closed():
            self._seen = self._version
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(deadline - workflow.now(), timedelta(0))
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox) or self._version != self._seen, timeout=timeout
                )
            except TimeoutError:
                pass
            async with self._lock:
                while self._inbox and not self._closed():
                    await self._customer(self._inbox.pop(0))
                if not self._closed():
                    await self._deadlines()
            self._show()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    TicketInput(
                        tenant_id=data.tenant_id,
                        ticket_id=data.ticket_id,
                        number=data.number,
                        snapshot=ticket,
                    )
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status()

    async def _open(self, data: TicketInput) -> None:
        opened: TicketSnapshot = await workflow.execute_activity(
            "open_ticket",
            OpenTicketInput(tenant_id=data.tenant_id, ticket_id=data.ticket_id),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
            result_type=TicketSnapshot,
        )
        now = workflow.now()
        target = opened.sla[opened.priority]
        opened.opened_at = now
        opened.first_response_due = now + target.first_response
        opened.resolution_due = now + target.resolution
        self._ticket = opened
        await self._change(
            kind="created",
            actor="system",
            data={"priority": opened.priority},
            first_response_due=opened.first_response_due,
            resolution_due=opened.resolution_due,
        )

    async def _customer(self, activity: CustomerActivity) -> None:
        ticket = self._opened()
        if activity.kind == "rating":
            if activity.score is None or ticket.state not in (
                TicketState.RESOLVED,
                TicketState.CLOSED,
            ):
                return
            await self._change(
                kind="rated",
                actor="customer",
                data={"score": activity.score, "message_id": str(activity.message_id)},
                satisfaction=activity.score,
            )
            return
        if ticket.state is TicketState.RESOLVED:
            now = workflow.now()
            state = TicketState.ASSIGNED if ticket.assignee_id else TicketState.OPEN
            due = now + ticket.sla[ticket.priority].resolution
            await self._change(
                kind="reopened",
                actor="customer",
                data={"message_id": str(activity.message_id)},
                state=state,
                resolution_due=due,
                media_ids=activity.media_ids,
                notify="reopened",
            )
            ticket.state, ticket.resolved_at, ticket.resolution_due = state, None, due
            ticket.resolution_breached = False
            return
        state = ticket.state
        if state is TicketState.WAITING_ON_CUSTOMER:
            state = TicketState.ASSIGNED if ticket.assignee_id else TicketState.OPEN
        await self._change(
            kind="customer_message",
            actor="customer",
            data={"message_id": str(activity.message_id)},
            state=state,
            media_ids=activity.media_ids,
        )
        ticket.state = state

    def _next_deadline(self) -> datetime | None:
        ticket = self._opened()
        candidates: list[datetime] = []
        if ticket.state is TicketState.RESOLVED and ticket.resolved_at is not None:
            candidates.append(ticket.resolved_at + timedelta(seconds=ticket.auto_close_s))
        elif ticket.state is not TicketState.CLOSED:
            if (
                not ticket.first_responded
                and not ticket.first_response_breached
                and ticket.first_response_due is not None
            ):
                candidates.append(ticket.first_response_due)
            if not ticket.resolution_breached and ticket.resolution_due is not None:
                candidates.append(ticket.resolution_due)
        return min(candidates) if candidates else None

    async def _deadlines(self) -> None:
        ticket = self._opened()
        now = workflow.now()
        if ticket.state is TicketState.RESOLVED:
            close_at = (
                None
                if ticket.resolved_at is None
                else ticket.resolved_at + timedelta(seconds=ticket.auto_close_s)
            )
            if close_at is not None and now >= close_at:
                await self._change(
                    kind="auto_closed",
                    actor="system",
                    state=TicketState.CLOSED,
                    closed_at=close_at,
                    at=close_at,
                )
                ticket.state = TicketState.CLOSED
            return
        if (
            not ticket.first_responded
            and not ticket.first_response_breached
            and ticket.first_response_due is not None
            and now >= ticket.first_response_due
        ):
            await self._breach("first_response", ticket.first_response_due)
        if (
            not ticket.resolution_breached
            and ticket.resolution_due is not None
            and now >= ticket.resolution_due
        ):
            await self._breach("resolution", ticket.resolution_due)

    async def _breach(self, sla: str, due: datetime) -> None:
        ticket = self._opened()
        # The breach happened at the deadline, whenever this task runs; the new clocks start
        # there too, so a late worker never grants extra time.
        now = due
        previous = ticket.priority
        raised = next_priority(previous)
        await self._change(
            kind="sla_breached",
            actor="system",
            data={"sla": sla, "due_at": due.isoformat()},
            at=due,
        )
        ticket.escalations += 1
        if raised is None:
            if sla == "first_response":
                ticket.first_response_breached = True
            else:
                ticket.resolution_breached = True
        else:
            target = ticket.sla[raised]
            ticket.priority = raised
            if not ticket.first_responded:
                ticket.first_response_due = now + target.first_response
            ticket.resolution_due = now + target.resolution
        await self._change(
            kind="escalated",
            actor="system",
            data={"sla": sla, "from": previous, "to": ticket.priority},
            priority=ticket.priority,
            first_response_due=ticket.first_response_due,
            resolution_due=ticket.resolution_due,
            escalations=ticket.escalations,
        )
        try:
            await workflow.execute_activity(
                "notify_ticket_agents",
                NotifyAgentsInput(
                    tenant_id=self._data.tenant_id,
                    ticket_id=self._data.ticket_id,
                    key=f"ticket:{self._data.ticket_id}:escalation:{ticket.escalations}",
                    template="ticket_escalated",
                    values={
                        "ticket_number": ticket.number,
                        "priority": ticket.priority,
                        "previous_priority": previous,
                        "reason": sla,
                        "due_at": f"{due:%Y-%m-%d %H:%M} UTC",
                    },
                ),
                start_to_close_timeout=MAIL_TIMEOUT,
                retry_policy=MAIL_RETRY,
                result_type=int,
            )
        except ActivityError as err:
            workflow.logger.warning(
                "agents of ticket %s not e-mailed: %s", ticket.number, type(err.cause).__name__
            )

    # -- helpers ------------------------------------------------------------------------------

    async def _change(
        self,
        *,
        kind: str,
        actor: str,
        retry: RetryPolicy = DB_RETRY,
        **values: object,
    ) -> TicketChangeResult:
        """Write one event (and the ticket's new values), then deliver the customer notice."""
        ticket = self._opened()
        ticket.changes += 1
        change = TicketChange.model_validate(
            {
                "tenant_id": self._data.tenant_id,
                "ticket_id": self._data.ticket_id,
                "key": f"{ticket.changes}:{kind}",
                "kind": kind,
                "actor": actor,
                "at": workflow.now(),
                **{k: v for k, v in values.items() if v is not None},
            }
        )
        try:
            result: TicketChangeResult = await workflow.execute_activity(
                "apply_ticket_change",
                change,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=retry,
                result_type=TicketChangeResult,
            )
        except ActivityError as err:
            # The change did not happen: the next change reuses its number.
            ticket.changes -= 1
            cause = err.cause
            if isinstance(cause, ApplicationError):
                raise ApplicationError(
                    str(cause.message), type=cause.type, non_retryable=True
                ) from None
            raise
        self._version += 1
        if ticket.conversation is not None:
            await deliver(ticket.conversation, result.outbound_ids, f"ticket {ticket.number}")
        return result

    def _closed(self) -> bool:
        return self._opened().state is TicketState.CLOSED

    def _opened(self) -> TicketSnapshot:
        if self._ticket is None:
            raise ApplicationError("the ticket is still being opened", type="NotReady")
        return self._ticket

    def _check_open_for_agents(self) -> None:
        if self._ticket is None:
            raise ValueError("the ticket is still being opened; try again")
        if self._ticket.state is TicketState.CLOSED:
            raise ValueError("the ticket is closed")

    def _status(self) -> TicketStatus:
        ticket = self._opened()
        return TicketStatus(
            number=ticket.number,
            state=ticket.state,
            priority=ticket.priority,
            assignee_id=ticket.assignee_id,
            first_response_due=None if ticket.first_responded else ticket.first_response_due,
            resolution_due=ticket.resolution_due,
            escalations=ticket.escalations,
        )

    def _show(self) -> None:
        ticket = self._opened()
        workflow.upsert_search_attributes([STAGE.value_set(ticket.state.value)])
        due = self._next_deadline()
        workflow.set_current_details(
            f"**{ticket.number}** · state: **{ticket.state.value}** · priority: "
            f"**{ticket.priority}** · escalations: {ticket.escalations}"
            + (f" · next deadline: {due:%Y-%m-%d %H:%M} UTC" if due else "")
        )
