"""ConversationWorkflow: one per customer, tenant and channel; messages one at a time.

ID ``conversation:{tenant}:{channel}:{customer}``, started by signal-with-start from each
inbound message (DESIGN.md). Each message becomes one turn: the turn activity decides and
stores replies and commands, the replies are delivered, then the commands run (start a
checkout child, pass it an answer, confirm it). It idle-closes after the channel window and
continues as new when Temporal suggests it, carrying its state in ``ConversationInput``.

A burst of text messages (waiting when a turn starts, or arriving within
``burst_merge_window_ms`` of each other) is one turn (patch ``burst-merge``). A throttled
message (over a rate limit, see ``tendero.ratelimit``) gets one slow-down notice and no turn
(patch ``inbound-throttle``).
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from tendero.domain.activities import ConfirmInput, ConfirmResult
    from tendero.domain.agent import (
        AgentStepInput,
        AgentStepResult,
        OwnerChange,
        OwnerChangeInput,
        OwnerChangeResult,
        ToolCallInput,
        ToolOutcome,
    )
    from tendero.domain.checkout import CheckoutChoices, CheckoutStatus, CheckoutStep
    from tendero.domain.conversation import (
        CancelCheckout,
        Command,
        ConfirmCheckout,
        ConversationInput,
        HandOff,
        InboundSignal,
        Owner,
        ProvideCheckoutChoice,
        RefreshCheckout,
        StartCheckout,
        StartTicket,
        StartVerification,
        SubmitVerificationCode,
        TicketCustomerActivity,
        TurnInput,
        TurnMode,
        TurnResult,
    )
    from tendero.domain.ids import (
        checkout_workflow_id,
        ticket_workflow_id,
        verification_workflow_id,
    )
    from tendero.domain.tickets import CustomerActivity, TicketInput
    from tendero.domain.verification import CodeSubmission, VerificationInput
    from workflows.checkout import CheckoutInput, CheckoutWorkflow, checkout_search_attributes
    from workflows.common import (
        CUSTOMER_ID,
        DB_RETRY,
        DB_TIMEOUT,
        STAGE,
        TENANT_ID,
        deliver,
    )
    from workflows.ticket import TicketWorkflow, ticket_search_attributes
    from workflows.verification import VerificationWorkflow, verification_search_attributes

# Duplicate signals (a webhook retried after a failed acknowledgement) are dropped by id;
# the last few hundred ids are plenty for Meta's redelivery pattern.
SEEN_IDS_KEPT = 500

# Turns recorded before the assistant existed always ran the guided engine.
ASSISTANT_PATCH = "llm-assistant"

# Runs recorded before burst merging answered every text message in its own turn.
BURST_PATCH = "burst-merge"
# At most this many text messages make one turn (the inbound rate limit bounds it anyway).
BURST_MAX_MESSAGES = 20
# Runs recorded before rate limits answered a throttled message (one the API flags after a
# rolling deploy, before the workers were updated) as an ordinary turn.
THROTTLE_PATCH = "inbound-throttle"

# The model round bounds itself (AGENT_MAX_TOOL_ROUNDS, then a forced reply); this guard
# only stops a loop if a misbehaving round kept asking for tools.
ROUNDS_GUARD = 16

# The SDK's own timeout (OPENAI_TIMEOUT_S) ends a slow call first; three attempts, then
# the guided engine answers. A rejected request (bad key, bad request) is not retried.
MODEL_TIMEOUT = timedelta(minutes=3)
MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=["ModelRejected", "ModelNotConfigured", "NotFound"],
)


def conversation_search_attributes(data: ConversationInput) -> TypedSearchAttributes:
    """The attributes a conversation starts with (ids only, never personal data)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID, str(data.conversation.tenant_id)),
            SearchAttributePair(CUSTOMER_ID, str(data.conversation.customer_id)),
            SearchAttributePair(STAGE, data.stage),
        ]
    )


@workflow.defn
class ConversationWorkflow:
    """A customer's conversation with a shop (see module docstring)."""

    @workflow.init
    def __init__(self, data: ConversationInput) -> None:
        """Restore state (fresh, or carried through continue-as-new)."""
        self._state = data.model_copy(deep=True)

    @workflow.signal
    def inbound(self, message: InboundSignal) -> None:
        """A recorded inbound message; duplicates (same message id) are ignored."""
        if message.message_id in self._state.seen_message_ids:
            return
        self._state.seen_message_ids.append(message.message_id)
        del self._state.seen_message_ids[:-SEEN_IDS_KEPT]
        self._state.pending.append(message)

    @workflow.signal(name="checkout_progress")
    def checkout_progress(self, status: CheckoutStatus) -> None:
        """A checkout child reports its step; a finished one is forgotten."""
        current = self._state.checkout
        if current is not None and current.workflow_id != status.workflow_id:
            return  # a superseded checkout reporting late
        self._state.checkout = status

    @workflow.query
    def state(self) -> ConversationInput:
        """The whole state (ids and steps only: no message content)."""
        return self._state

    @workflow.update
    async def set_owner(self, change: OwnerChange) -> OwnerChangeResult:
        """An operator gives the conversation back to the bot, or to a person.

        The change is recorded in Postgres and the customer is told (back to the bot: "you're
        chatting with our assistant again"; to a person: "a person is now in this chat").
        """
        self._state.owner = change.owner
        self._state.stage = _owner_stage(change.owner)
        self._show()
        update = workflow.current_update_info()
        result: OwnerChangeResult = await workflow.execute_activity(
            "set_conversation_owner",
            OwnerChangeInput(
                conversation=self._state.conversation,
                owner=change.owner,
                key=update.id if update else workflow.info().run_id,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
            result_type=OwnerChangeResult,
        )
        await self._deliver(result.outbound_ids)
        return result

    @set_owner.validator
    def _check_owner(self, change: OwnerChange) -> None:
        """Refuse closing by hand and no-op changes."""
        if change.owner is Owner.CLOSED:
            raise ValueError("a conversation closes by itself when idle")
        if change.owner is self._state.owner:
            raise ValueError(f"the conversation is already {change.owner.value}")

    @workflow.run
    async def run(self, data: ConversationInput) -> None:
        """Process messages in arrival order until idle for the channel window."""
        idle = timedelta(seconds=self._state.idle_close_s)
        turns_this_run = 0
        self._show()
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._state.pending), timeout=idle)
            except TimeoutError:
                if self._checkout_running():
                    continue  # never close under a running checkout
                self._state.owner = Owner.CLOSED
                self._state.stage = "closed"
                self._show()
                return
            message = self._state.pending.pop(0)
            merged: list[UUID] = []
            if _mergeable(message) and workflow.patched(BURST_PATCH):
                message, merged = await self._burst(message)
            await self._turn(message, merged)
            turns_this_run += 1
            self._show()
            if not self._state.pending and (
                workflow.info().is_continue_as_new_suggested()
                or turns_this_run >= self._state.turns_per_run
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)

    async def _burst(self, first: InboundSignal) -> tuple[InboundSignal, list[UUID]]:
        """Gather a burst of text messages that starts with ``first`` into one turn.

        Text messages already waiting join it; with ``burst_merge_window_ms`` > 0 the turn
        also waits until that long after the latest message's ``received_at`` for another
        one (a deterministic timer). A non-text message ends the burst and keeps its place.

        Returns:
            The burst's last message (the turn's message) and the ids of the earlier ones,
            oldest first (empty when nothing merged).
        """
        window = timedelta(milliseconds=self._state.burst_merge_window_ms)
        merged: list[UUID] = []
        last = first
        while len(merged) + 1 < BURST_MAX_MESSAGES:
            if not self._state.pending and window > timedelta(0):
                # Counted from the message's arrival; capped for clock skew with the API.
                remaining = min(window, last.received_at + window - workflow.now())
                if remaining > timedelta(0):
                    try:
                        await workflow.wait_condition(
                            lambda: bool(self._state.pending), timeout=remaining
                        )
                    except TimeoutError:
                        pass
            if not self._state.pending or not _mergeable(self._state.pending[0]):
                break
            merged.append(last.message_id)
            last = self._state.pending.pop(0)
        return last, merged

    async def _turn(self, message: InboundSignal, merged: list[UUID] | None = None) -> None:
        if message.throttled and workflow.patched(THROTTLE_PATCH):
            await self._slow_down(message)
            return
        checkout = self._state.checkout
        if checkout is not None and checkout.step.is_terminal:
            # Kept one turn longer so "CONFIRM" after expiry gets the right answer.
            self._state.checkout = None
        assistant = workflow.patched(ASSISTANT_PATCH)
        result = await self._run_turn(
            message, checkout, TurnMode.ROUTE if assistant else TurnMode.GUIDED, merged
        )
        if result is None:
            return
        self._state.turns += 1
        self._state.stage = result.stage
        if result.owner is not None:
            self._state.owner = result.owner
        if result.agent:
            # Only ticket follow-ups ride along a hand-over to the assistant; histories
            # recorded before them carry no commands here.
            for command in result.commands:
                await self._apply(command, message)
            await self._assistant_turn(message, checkout, merged)
            return
        await self._deliver(result.outbound_ids)
        for command in result.commands:
            await self._apply(command, message)

    async def _slow_down(self, message: InboundSignal) -> None:
        """The first throttled message of a window: one slow-down notice, nothing else.

        The turn activity sees the message's ``throttled`` status and stores the notice
        without routing it; the conversation's stage, owner and turn count stay as they are.
        """
        result = await self._run_turn(message, None, TurnMode.GUIDED)
        if result is not None:
            await self._deliver(result.outbound_ids)

    async def _run_turn(
        self,
        message: InboundSignal,
        checkout: CheckoutStatus | None,
        mode: TurnMode,
        merged: list[UUID] | None = None,
    ) -> TurnResult | None:
        turn = TurnInput(
            conversation=self._state.conversation,
            message_id=message.message_id,
            checkout=checkout,
        )
        if mode is not TurnMode.GUIDED:
            # Histories recorded before the assistant carry the part-1 input unchanged.
            turn.mode = mode
        if merged:
            turn.merged_message_ids = list(merged)
        try:
            result: TurnResult = await workflow.execute_activity(
                "run_turn",
                turn,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
                result_type=TurnResult,
            )
        except ActivityError as err:
            # Only non-retryable failures get here; one lost turn must not end the chat.
            workflow.logger.error(
                "turn for message %s failed: %s", message.message_id, type(err.cause).__name__
            )
            return None
        return result

    async def _assistant_turn(
        self,
        message: InboundSignal,
        checkout: CheckoutStatus | None,
        merged: list[UUID] | None = None,
    ) -> None:
        """Model rounds and tool calls until a reply; the guided engine if the model fails.

        Commands from tools (start a checkout, hand off) run after the reply is delivered,
        so the customer reads the assistant's words before the checkout's summary.
        """
        commands: list[Command] = []
        replied = False
        for round_ in range(ROUNDS_GUARD):
            try:
                step = await workflow.execute_activity(
                    "agent_model_step",
                    AgentStepInput(
                        conversation=self._state.conversation,
                        message_id=message.message_id,
                        round=round_,
                        checkout=checkout,
                    ),
                    start_to_close_timeout=MODEL_TIMEOUT,
                    retry_policy=MODEL_RETRY,
                    result_type=AgentStepResult,
                )
            except ActivityError as err:
                workflow.logger.warning(
                    "assistant failed for message %s (%s): guided answer",
                    message.message_id,
                    type(err.cause).__name__,
                )
                break
            if step.done:
                await self._deliver(step.outbound_ids)
                replied = True
                break
            try:
                for call in step.tool_calls:
                    outcome = await workflow.execute_activity(
                        f"tool.{call.name}",
                        ToolCallInput(
                            conversation=self._state.conversation,
                            message_id=message.message_id,
                            round=round_,
                            call_id=call.call_id,
                            checkout=checkout,
                        ),
                        start_to_close_timeout=DB_TIMEOUT,
                        retry_policy=DB_RETRY,
                        result_type=ToolOutcome,
                    )
                    commands.extend(outcome.commands)
            except ActivityError as err:
                # Only non-retryable failures get here (a call that is not stored).
                workflow.logger.error("tool call failed: %s", type(err.cause).__name__)
                break
        if not replied:
            fallback = await self._run_turn(message, checkout, TurnMode.FALLBACK, merged)
            if fallback is not None:
                self._state.stage = fallback.stage
                await self._deliver(fallback.outbound_ids)
                commands.extend(fallback.commands)
        for command in commands:
            await self._apply(command, message)

    async def _deliver(self, outbound_ids: list[UUID]) -> None:
        await deliver(self._state.conversation, outbound_ids, "replies")

    async def _apply(self, command: Command, message: InboundSignal) -> None:
        if isinstance(command, HandOff):
            self._state.owner = Owner.WAITING_FOR_HUMAN
            self._state.stage = _owner_stage(Owner.WAITING_FOR_HUMAN)
        elif isinstance(command, StartCheckout):
            await self._start_checkout(command)
        elif isinstance(command, ProvideCheckoutChoice):
            await self._signal_checkout(command.workflow_id, "provide", command.choice)
        elif isinstance(command, RefreshCheckout):
            await self._signal_checkout(command.workflow_id, "refresh", command.cart_version)
        elif isinstance(command, CancelCheckout):
            await self._signal_checkout(command.workflow_id, "cancel", None)
            self._state.checkout = None
        elif isinstance(command, ConfirmCheckout):
            try:
                result = await workflow.execute_activity(
                    "confirm_checkout",
                    ConfirmInput(
                        conversation=self._state.conversation,
                        message_id=message.message_id,
                        workflow_id=command.workflow_id,
                        summary_id=command.summary_id,
                        cart_version=command.cart_version,
                    ),
                    start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=DB_RETRY,
                    result_type=ConfirmResult,
                )
            except ActivityError as err:
                workflow.logger.error(
                    "confirmation of %s failed: %s", command.workflow_id, type(err.cause).__name__
                )
                return
            await self._deliver(result.outbound_ids)
        elif isinstance(command, StartVerification):
            await self._start_verification(command)
        elif isinstance(command, SubmitVerificationCode):
            ref = self._state.conversation
            await self._signal(
                verification_workflow_id(ref.tenant_id, ref.conversation_id),
                "submit",
                CodeSubmission(
                    verification_id=command.verification_id,
                    code_hash=command.code_hash,
                    message_id=command.message_id,
                ),
            )
        elif isinstance(command, StartTicket):
            await self._start_ticket(command)
        elif isinstance(command, TicketCustomerActivity):
            await self._signal(
                ticket_workflow_id(self._state.conversation.tenant_id, command.number),
                "customer_activity",
                CustomerActivity(
                    message_id=command.message_id,
                    kind=command.activity,
                    media_ids=command.media_ids,
                    score=command.score,
                ),
            )

    async def _start_verification(self, command: StartVerification) -> None:
        """Run the request; a verification already running for this chat is superseded."""
        ref = self._state.conversation
        data = VerificationInput(
            conversation=ref,
            verification_id=command.verification_id,
            level=command.level,
            code_ttl_s=command.code_ttl_s,
            max_attempts=command.max_attempts,
        )
        workflow_id = verification_workflow_id(ref.tenant_id, ref.conversation_id)
        # A run may end between our failed start and the signal: then start again, once.
        for _ in range(2):
            try:
                await workflow.start_child_workflow(
                    VerificationWorkflow.run,
                    data,
                    id=workflow_id,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    search_attributes=verification_search_attributes(data),
                    static_summary=f"{command.level} verification",
                    static_details=f"Request `{command.verification_id}`",
                )
                return
            except WorkflowAlreadyStartedError:
                if await self._signal(workflow_id, "supersede", data):
                    return
        workflow.logger.error("verification %s could not start", command.verification_id)

    async def _start_ticket(self, command: StartTicket) -> None:
        ref = self._state.conversation
        try:
            await workflow.start_child_workflow(
                TicketWorkflow.run,
                TicketInput(
                    tenant_id=ref.tenant_id, ticket_id=command.ticket_id, number=command.number
                ),
                id=ticket_workflow_id(ref.tenant_id, command.number),
                # A ticket lives for days, far beyond this conversation's run.
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=ticket_search_attributes(str(ref.tenant_id), command.number),
                static_summary=f"Ticket {command.number}",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("ticket %s already running", command.number)

    async def _signal(self, workflow_id: str, signal: str, arg: object) -> bool:
        """Signal another workflow; False when it is no longer running."""
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal(signal, arg)
        except FailureError:
            workflow.logger.info("%s is no longer running (%s)", workflow_id, signal)
            return False
        return True

    async def _start_checkout(self, command: StartCheckout) -> None:
        ref = self._state.conversation
        workflow_id = checkout_workflow_id(ref.tenant_id, command.cart_id, command.cart_version)
        current = self._state.checkout
        if current is not None and current.workflow_id != workflow_id:
            if not current.step.is_terminal:
                await self._signal_checkout(current.workflow_id, "cancel", None)
        data = CheckoutInput(
            conversation=ref,
            parent_workflow_id=workflow.info().workflow_id,
            cart_id=command.cart_id,
            cart_version=command.cart_version,
            prefill=command.prefill or CheckoutChoices(),
        )
        # Set before starting, so the child's first progress signal is recognised.
        self._state.checkout = CheckoutStatus(
            workflow_id=workflow_id, step=CheckoutStep.FULFILMENT, cart_version=command.cart_version
        )
        try:
            await workflow.start_child_workflow(
                CheckoutWorkflow.run,
                data,
                id=workflow_id,
                # The checkout outlives a continue-as-new of its conversation.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=checkout_search_attributes(data),
                static_summary="Checkout of a cart",
                static_details=f"Cart `{command.cart_id}` version {command.cart_version}",
            )
        except WorkflowAlreadyStartedError:
            # A double tap on "Checkout" for the same cart version: keep following that run
            # where it is, rather than pretend it went back to the first step.
            self._state.checkout = (
                current if current and current.workflow_id == workflow_id else None
            )
            workflow.logger.info("checkout %s already running", workflow_id)

    async def _signal_checkout(self, workflow_id: str, signal: str, arg: object) -> None:
        handle = workflow.get_external_workflow_handle(workflow_id)
        try:
            if arg is None:
                await handle.signal(signal)
            else:
                await handle.signal(signal, arg)
        except FailureError:
            # The checkout already finished (e.g. expired): nothing to tell it.
            workflow.logger.info("checkout %s is no longer running", workflow_id)

    def _checkout_running(self) -> bool:
        checkout = self._state.checkout
        return checkout is not None and not checkout.step.is_terminal

    def _show(self) -> None:
        state = self._state
        workflow.upsert_search_attributes([STAGE.value_set(state.stage)])
        checkout = state.checkout
        workflow.set_current_details(
            f"Owner: **{state.owner.value}** · stage: **{state.stage}** · turns: {state.turns}"
            + (f" · checkout step: **{checkout.step.value}**" if checkout else "")
        )


def _mergeable(message: InboundSignal) -> bool:
    """True for a text message that may join a burst (never a throttled one)."""
    return message.kind == "text" and not message.throttled


def _owner_stage(owner: Owner) -> str:
    return {
        Owner.BOT: "browsing",
        Owner.WAITING_FOR_HUMAN: "handoff",
        Owner.HUMAN: "human",
        Owner.CLOSED: "closed",
    }[owner]
