"""CheckoutWorkflow: fulfilment, address, payment, a server-computed summary, CONFIRM, order.

ID ``checkout:{tenant}:{cart}:{cart_version}`` (DESIGN.md). The confirmation is an update
whose validator binds it to the summary it answers and refuses it once the summary expired;
the order is then created exactly once, with this workflow's ID as idempotency key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tendero.domain.activities import (
        CheckoutMessageInput,
        CheckoutMessageKind,
        PlaceOrderInput,
        SummaryInput,
        SummaryResult,
    )
    from tendero.domain.checkout import (
        CheckoutChoice,
        CheckoutChoices,
        CheckoutOutcome,
        CheckoutStatus,
        CheckoutStep,
        ConfirmAck,
        ConfirmRequest,
        Fulfilment,
        OrderSummary,
        PlacedOrder,
    )
    from tendero.domain.conversation import ConversationRef
    from workflows.common import (
        CUSTOMER_ID,
        DB_RETRY,
        DB_TIMEOUT,
        ORDER_NUMBER,
        STAGE,
        TENANT_ID,
        deliver,
    )

CHECKOUT_PROGRESS_SIGNAL = "checkout_progress"

_ASK: dict[CheckoutStep, CheckoutMessageKind] = {
    CheckoutStep.FULFILMENT: "ask_fulfilment",
    CheckoutStep.ADDRESS: "ask_address",
    CheckoutStep.PAYMENT: "ask_payment",
}


class CheckoutInput(BaseModel):
    """Start of a checkout: whose cart, which version, and who to tell about progress."""

    conversation: ConversationRef
    parent_workflow_id: str
    cart_id: UUID
    cart_version: int
    prefill: CheckoutChoices = CheckoutChoices()


def checkout_search_attributes(data: CheckoutInput) -> TypedSearchAttributes:
    """The attributes a checkout starts with (ids only, never personal data)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID, str(data.conversation.tenant_id)),
            SearchAttributePair(CUSTOMER_ID, str(data.conversation.customer_id)),
            SearchAttributePair(STAGE, "checkout:fulfilment"),
        ]
    )


@workflow.defn
class CheckoutWorkflow:
    """One checkout of one cart version (see module docstring)."""

    @workflow.init
    def __init__(self, data: CheckoutInput) -> None:
        """Start from the prefilled choices (a refreshed checkout keeps earlier answers)."""
        self._data = data
        self._choices = data.prefill.model_copy()
        self._step = CheckoutStep.FULFILMENT
        self._cart_version = data.cart_version
        self._summary: OrderSummary | None = None
        self._expires_at: datetime | None = None
        self._summary_sent_at: datetime | None = None
        self._ttl = timedelta(minutes=30)  # replaced by the tenant's value at the first summary
        self._confirmed = False
        self._cancelled = False
        self._dirty = False  # a new answer or a refresh arrived: recompute
        self._messages = 0
        # Why the next summary is shown again ("cart_changed" or "prices_changed").
        self._intro: CheckoutMessageKind | None = None

    # -- message handlers ------------------------------------------------------------------

    @workflow.signal
    def provide(self, choice: CheckoutChoice) -> None:
        """An answer to the current step; answers to other steps are ignored (stale taps)."""
        if choice.step is not self._step or self._dirty:
            return  # another step's answer, or a second answer before this one is used
        if choice.step is CheckoutStep.FULFILMENT and choice.fulfilment is not None:
            self._choices.fulfilment = choice.fulfilment
            if choice.fulfilment is Fulfilment.PICKUP:
                self._choices.address = None
        elif choice.step is CheckoutStep.ADDRESS and choice.address is not None:
            self._choices.address = choice.address
        elif choice.step is CheckoutStep.PAYMENT and choice.payment_method is not None:
            self._choices.payment_method = choice.payment_method
        else:
            return
        self._dirty = True

    @workflow.signal
    def refresh(self, cart_version: int) -> None:
        """The cart changed: recompute the summary for ``cart_version``."""
        if self._step is CheckoutStep.CONFIRMATION and cart_version != self._cart_version:
            self._cart_version = cart_version
            self._intro = "cart_changed"
            self._dirty = True

    @workflow.signal
    def cancel(self) -> None:
        """Stop, unless the order is already being placed."""
        if self._step not in {CheckoutStep.PLACING} and not self._step.is_terminal:
            self._cancelled = True

    @workflow.update
    def confirm(self, request: ConfirmRequest) -> ConfirmAck:
        """Accept the customer's CONFIRM; the order is placed right after."""
        self._confirmed = True
        return ConfirmAck(summary_id=request.summary_id)

    @confirm.validator
    def _validate_confirm(self, request: ConfirmRequest) -> None:
        """Refuse before anything reaches history: wrong step, stale summary, or expired.

        Raises:
            ApplicationError: ``NotWaiting``, ``Stale`` or ``Expired``.
        """
        if (
            self._step is not CheckoutStep.CONFIRMATION
            or self._summary is None
            or self._confirmed
            or self._dirty
        ):
            raise ApplicationError("no summary is waiting for confirmation", type="NotWaiting")
        if (
            request.summary_id != self._summary.summary_id
            or request.cart_version != self._summary.cart_version
        ):
            raise ApplicationError("the summary changed since", type="Stale")
        if self._expires_at is not None and workflow.now() >= self._expires_at:
            raise ApplicationError("the summary expired", type="Expired")

    @workflow.query
    def status(self) -> CheckoutStatus:
        """Where the checkout is."""
        return self._status()

    # -- run -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: CheckoutInput) -> CheckoutOutcome:
        """Ask what is missing, summarise, wait for CONFIRM, place the order."""
        try:
            return await self._checkout()
        except ActivityError as err:
            # Only non-retryable failures get here (database activities retry until the
            # database is back): end cleanly so the customer is never left in a dead step.
            workflow.logger.error("checkout failed: %s", type(err.cause).__name__)
            try:
                await self._say("error")
            except ActivityError:
                workflow.logger.error("the failure message could not be sent either")
            return await self._finish(CheckoutStep.FAILED, detail={"reason": "error"})

    async def _checkout(self) -> CheckoutOutcome:
        while True:
            self._dirty = False
            result = await self._prepare()
            self._ttl = timedelta(seconds=result.confirm_ttl_s)
            if result.problem is not None:
                kind: CheckoutMessageKind = (
                    "out_of_stock" if result.problem == "out_of_stock" else "empty"
                )
                await self._say(kind, unavailable=result.unavailable)
                return await self._finish(CheckoutStep.FAILED, detail={"reason": result.problem})
            if self._auto_choose(result):
                continue
            missing = self._missing_step()
            if missing is not None:
                await self._set_step(missing)
                await self._say(_ASK[missing])
                try:
                    # An abandoned checkout ends too, so nothing waits forever.
                    await workflow.wait_condition(
                        lambda: self._dirty or self._cancelled, timeout=self._ttl
                    )
                except TimeoutError:
                    await self._say("timed_out")
                    return await self._finish(CheckoutStep.EXPIRED)
                if self._cancelled:
                    return await self._finish(CheckoutStep.CANCELLED)
                continue
            assert result.summary is not None
            outcome = await self._await_confirmation(result)
            if outcome is not None:
                return outcome
            if not self._confirmed:
                continue  # a refresh or a new answer: recompute and show a new summary
            placed = await self._place()
            if isinstance(placed, CheckoutOutcome):
                return placed
            if placed is None:
                self._confirmed = False
                continue
            workflow.upsert_search_attributes([ORDER_NUMBER.value_set(placed.number)])
            await self._say("placed", summary=self._summary, order=placed)
            return await self._finish(CheckoutStep.DONE, order=placed)

    async def _prepare(self) -> SummaryResult:
        result: SummaryResult = await workflow.execute_activity(
            "prepare_summary",
            SummaryInput(
                conversation=self._data.conversation,
                cart_id=self._data.cart_id,
                choices=self._choices,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
            result_type=SummaryResult,
        )
        return result

    def _auto_choose(self, result: SummaryResult) -> bool:
        """A shop with one payment method need not ask; True when a choice was made."""
        if self._choices.payment_method is None and len(result.payment_methods) == 1:
            self._choices.payment_method = result.payment_methods[0]
            return True
        return False

    def _missing_step(self) -> CheckoutStep | None:
        if self._choices.fulfilment is None:
            return CheckoutStep.FULFILMENT
        if self._choices.fulfilment is Fulfilment.DELIVERY and self._choices.address is None:
            return CheckoutStep.ADDRESS
        if self._choices.payment_method is None:
            return CheckoutStep.PAYMENT
        return None

    async def _await_confirmation(self, result: SummaryResult) -> CheckoutOutcome | None:
        """Show the summary and wait; returns an outcome when the checkout ends here.

        The conversation learns of the summary only once it was delivered, with the time it
        was sent: a CONFIRM the customer typed before that answers an older summary.
        """
        assert result.summary is not None
        intro, self._intro = self._intro, None
        self._summary = result.summary
        self._cart_version = result.summary.cart_version
        await self._say(
            intro or "summary",
            summary=result.summary,
            confirm_ttl_s=result.confirm_ttl_s,
        )
        self._summary_sent_at = workflow.now()
        self._expires_at = self._summary_sent_at + self._ttl
        await self._set_step(CheckoutStep.CONFIRMATION)
        try:
            await workflow.wait_condition(
                lambda: self._confirmed or self._dirty or self._cancelled, timeout=self._ttl
            )
        except TimeoutError:
            await self._say("expired")
            return await self._finish(CheckoutStep.EXPIRED)
        if self._cancelled:
            return await self._finish(CheckoutStep.CANCELLED)
        return None

    async def _place(self) -> PlacedOrder | CheckoutOutcome | None:
        """Create the order; ``None`` means prices moved and a new summary is needed."""
        assert self._summary is not None
        await self._set_step(CheckoutStep.PLACING)
        try:
            placed: PlacedOrder = await workflow.execute_activity(
                "place_order",
                PlaceOrderInput(
                    conversation=self._data.conversation,
                    summary=self._summary,
                    idempotency_key=workflow.info().workflow_id,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
                result_type=PlacedOrder,
            )
            return placed
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError):
                raise
            if cause.type == "OutOfStock":
                unavailable = [str(item) for item in (cause.details[0] if cause.details else [])]
                await self._say("out_of_stock", unavailable=unavailable)
                return await self._finish(CheckoutStep.FAILED, detail={"reason": "out_of_stock"})
            if cause.type in {"PriceChanged", "CartChanged"}:
                self._intro = "prices_changed" if cause.type == "PriceChanged" else "cart_changed"
                return None
            raise

    # -- helpers ---------------------------------------------------------------------------

    def _status(self) -> CheckoutStatus:
        return CheckoutStatus(
            workflow_id=workflow.info().workflow_id,
            step=self._step,
            summary_id=self._summary.summary_id if self._summary else None,
            summary_sent_at=self._summary_sent_at,
            cart_version=self._cart_version,
        )

    async def _set_step(self, step: CheckoutStep) -> None:
        """Record the step, show it to operators, and tell the conversation first.

        The conversation hears of the step before the customer sees its question, so the
        answer is always routed to this step.
        """
        self._step = step
        workflow.upsert_search_attributes([STAGE.value_set(f"checkout:{step.value}")])
        workflow.set_current_details(f"Checkout step: **{step.value}**")
        await self._notify_parent(self._status())

    async def _notify_parent(self, status: CheckoutStatus) -> None:
        parent = workflow.get_external_workflow_handle(self._data.parent_workflow_id)
        await parent.signal(CHECKOUT_PROGRESS_SIGNAL, status)

    async def _say(
        self,
        kind: CheckoutMessageKind,
        *,
        summary: OrderSummary | None = None,
        order: PlacedOrder | None = None,
        unavailable: list[str] | None = None,
        confirm_ttl_s: int = 0,
    ) -> None:
        """Compose the message (stored under a key unique to this point) and deliver it."""
        self._messages += 1
        info = workflow.info()
        ids = await workflow.execute_activity(
            "compose_checkout_message",
            CheckoutMessageInput(
                conversation=self._data.conversation,
                kind=kind,
                # The run id keeps a later run of the same checkout id from reusing keys.
                key=":".join((info.workflow_id, info.run_id, str(self._messages), kind)),
                summary=summary,
                order=order,
                unavailable=unavailable or [],
                confirm_ttl_s=confirm_ttl_s,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
            result_type=list[UUID],
        )
        await deliver(self._data.conversation, ids, f"checkout message {kind}")

    async def _finish(
        self,
        step: CheckoutStep,
        *,
        order: PlacedOrder | None = None,
        detail: dict[str, str] | None = None,
    ) -> CheckoutOutcome:
        self._step = step
        workflow.upsert_search_attributes([STAGE.value_set(f"checkout:{step.value}")])
        status = self._status()
        if order is not None:
            status.order_number = order.number
            workflow.set_current_details(f"Order **{order.number}** placed")
        else:
            workflow.set_current_details(f"Checkout ended: **{step.value}**")
        await self._notify_parent(status)
        return CheckoutOutcome(step=step, order=order, detail=detail or {})
