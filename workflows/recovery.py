"""AbandonedCartWorkflow: the inactivity timer and the drip of one cart.

ID ``cart-recovery:{tenant}:{cart}``, started by signal-with-start (``cart_changed``) from the
activity that put the first item in the cart. Every ``cart_changed`` with a newer version
restarts the clock: each pending step is due at its offset from the cart's last change
(the nudge at +5 minutes, the e-mails at +1 h, +24 h, +72 h by default). A step goes out
only if the database says so (``cart_recovery_step``): the cart is still open at this
version with items, the customer's marketing consent stands, nothing was bought since.
Each step goes out at most once per cart, so a cart that keeps changing never gets more
than the nudge and three e-mails.

``checked_out``, ``emptied`` and ``opted_out`` stop it at once. It ends ``finished`` after
the last step, or with the status the database row ended with. Deterministic: only timers,
signals and activities; codes and times of sends are made in activities.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tendero.domain.ids import cart_recovery_workflow_id
    from tendero.domain.recovery import (
        CartChanged,
        FinishRecoveryInput,
        RecoveryInput,
        RecoveryOutcome,
        RecoveryPlan,
        RecoveryProgress,
        RecoveryStop,
        StartRecoveryInput,
        StepInput,
        StepResult,
        StopReason,
    )
    from workflows.common import DB_RETRY, DB_TIMEOUT, STAGE, deliver

# A step sends one e-mail (SMTP) or stores one chat message: minutes at most.
STEP_TIMEOUT = timedelta(minutes=5)


@workflow.defn(name="AbandonedCartWorkflow")
class AbandonedCartWorkflow:
    """The recovery drip of one cart (see module docstring)."""

    @workflow.init
    def __init__(self, data: RecoveryInput) -> None:
        """Start from the cart version the trigger saw."""
        self._data = data
        self._version = data.cart_version
        self._items = data.item_count
        self._changed_at = workflow.now()
        self._stop: StopReason | None = None
        self._sent: list[int] = []
        self._waiting_for = data.cart_version

    # -- signals and queries -------------------------------------------------------------------

    @workflow.signal
    def cart_changed(self, change: CartChanged) -> None:
        """The cart changed: a newer version restarts the clock (an old one is ignored)."""
        if change.cart_version > self._version:
            self._version = change.cart_version
            self._items = change.item_count
            self._changed_at = workflow.now()
            if change.item_count == 0 and self._stop is None:
                self._stop = "emptied"

    @workflow.signal
    def checked_out(self, _: RecoveryStop) -> None:
        """An order was placed from the cart."""
        self._stop = self._stop or "checked_out"

    @workflow.signal
    def emptied(self, _: RecoveryStop) -> None:
        """The cart was emptied."""
        self._stop = self._stop or "emptied"

    @workflow.signal
    def opted_out(self, _: RecoveryStop) -> None:
        """The customer withdrew marketing consent ("stop", the unsubscribe link)."""
        self._stop = self._stop or "opted_out"

    @workflow.query
    def progress(self) -> RecoveryProgress:
        """The cart version, its last change, the steps done (sent or skipped), a stop."""
        return RecoveryProgress(
            cart_version=self._version,
            changed_at=self._changed_at,
            steps_sent=list(self._sent),
            stopping=self._stop,
        )

    # -- main ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: RecoveryInput) -> RecoveryOutcome:
        """Wait out inactivity, send each step at its time, stop when told."""
        self._set_stage("waiting")
        plan: RecoveryPlan = await workflow.execute_activity(
            "start_cart_recovery",
            StartRecoveryInput(
                tenant_id=data.tenant_id,
                customer_id=data.customer_id,
                cart_id=data.cart_id,
                cart_version=self._version,
                changed_at=self._changed_at,
                workflow_id=cart_recovery_workflow_id(data.tenant_id, data.cart_id),
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
            result_type=RecoveryPlan,
        )
        if not plan.enabled:
            return await self._finish("stopped", "disabled")
        self._sent = list(plan.sent)
        steps = sorted(plan.steps, key=lambda s: s.after_s)
        while True:
            pending = [s for s in steps if s.index not in self._sent]
            if self._stop is not None:
                return await self._finish("stopped", self._stop)
            if not pending:
                return await self._finish("finished", None)
            step = pending[0]
            version = self._waiting_for = self._version
            due = self._changed_at + timedelta(seconds=step.after_s)
            wait = due - workflow.now()
            # The step's time: when it was due (its timer fired), or now when already late.
            at = due if wait > timedelta(0) else workflow.now()
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: self._stop is not None or self._version != self._waiting_for,
                        timeout=wait,
                    )
                except TimeoutError:
                    pass
            if self._stop is not None or self._version != version:
                continue  # stop, or the clock restarts from the new change
            result: StepResult = await workflow.execute_activity(
                "cart_recovery_step",
                StepInput(
                    tenant_id=data.tenant_id,
                    customer_id=data.customer_id,
                    cart_id=data.cart_id,
                    cart_version=self._version,
                    changed_at=self._changed_at,
                    at=at,
                    step=step,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=DB_RETRY,
                result_type=StepResult,
            )
            if result.outcome == "changed":
                # The cart moved on without a signal reaching us: restart the clock now.
                self._version = max(self._version, result.cart_version or self._version)
                self._changed_at = workflow.now()
                continue
            if result.outcome == "stop":
                return await self._finish("stopped", result.stop_reason)
            # A skipped step (no address, window closed) is not retried later.
            self._sent.append(step.index)
            if result.outcome == "sent":
                self._set_stage(f"step{step.index}")
            if result.conversation is not None and result.outbound_ids:
                await deliver(result.conversation, result.outbound_ids, "cart recovery nudge")

    async def _finish(self, status: str, reason: StopReason | None) -> RecoveryOutcome:
        outcome: RecoveryOutcome = await workflow.execute_activity(
            "finish_cart_recovery",
            FinishRecoveryInput(
                tenant_id=self._data.tenant_id,
                cart_id=self._data.cart_id,
                status="finished" if status == "finished" else "stopped",
                reason=reason,
                at=workflow.now(),
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
            result_type=RecoveryOutcome,
        )
        self._set_stage(outcome.status)
        return outcome

    def _set_stage(self, stage: str) -> None:
        workflow.upsert_search_attributes([STAGE.value_set(f"recovery:{stage}")])
        workflow.set_current_details(f"Cart recovery: **{stage}**")
