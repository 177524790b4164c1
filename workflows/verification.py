"""VerificationWorkflow: proves a conversation's customer owns an e-mail address.

ID ``verify:{tenant}:{conversation}``, a child of the conversation. One run per request (a
``verifications`` row); a newer request of the same conversation arrives as the
``supersede`` signal and the run continues as new with it.

- ``simple``: one activity checks that the e-mail and the order number belong together.
- ``otp``: ``send_verification_code`` e-mails a code and returns only its keyed hash; typed
  codes arrive as hashes (``submit``); the first match verifies, a wrong code costs one of
  ``max_attempts`` tries (then the address is locked), and the code expires ``code_ttl_s``
  after it was sent. The code itself is never in this workflow's history.

Each ending is recorded by ``record_verification_outcome``, which also stores the reply
(and, once verified, the answer the customer asked for) for delivery.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from tendero.domain.verification import (
        CodeSubmission,
        IssueCodeInput,
        IssueCodeResult,
        OutcomeInput,
        OutcomeResult,
        SimpleCheckInput,
        VerificationInput,
        VerificationOutcome,
    )
    from tendero.identity import hashes_match
    from workflows.common import CUSTOMER_ID, DB_RETRY, DB_TIMEOUT, STAGE, TENANT_ID, deliver

# Sending the code: the mail server may be down for a while; after that the customer is told.
SEND_CODE_TIMEOUT = timedelta(minutes=1)
SEND_CODE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=6,
    non_retryable_error_types=["NotFound"],
)


def verification_search_attributes(data: VerificationInput) -> TypedSearchAttributes:
    """Ids only: the e-mail address never becomes a search attribute."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID, str(data.conversation.tenant_id)),
            SearchAttributePair(CUSTOMER_ID, str(data.conversation.customer_id)),
            SearchAttributePair(STAGE, "verifying"),
        ]
    )


@workflow.defn
class VerificationWorkflow:
    """One identity verification (see module docstring)."""

    @workflow.init
    def __init__(self, data: VerificationInput) -> None:
        """Start with no submissions."""
        self._data = data
        self._submissions: list[CodeSubmission] = []
        self._next: VerificationInput | None = None
        self._attempts = 0
        self._stage = "starting"

    @workflow.signal
    def submit(self, submission: CodeSubmission) -> None:
        """A typed code's hash, from the conversation."""
        self._submissions.append(submission)

    @workflow.signal
    def supersede(self, request: VerificationInput) -> None:
        """A newer request of the same conversation replaces this one."""
        self._next = request

    @workflow.query
    def progress(self) -> dict[str, object]:
        """Stage and wrong attempts so far (no code, no hash, no address)."""
        return {"stage": self._stage, "attempts": self._attempts, "level": self._data.level}

    @workflow.run
    async def run(self, data: VerificationInput) -> str:
        """Run the request to its outcome; returns the outcome's name."""
        if data.level == "simple":
            self._show("checking order and e-mail")
            matched: bool = await workflow.execute_activity(
                "check_order_email",
                SimpleCheckInput(
                    conversation=data.conversation, verification_id=data.verification_id
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
                result_type=bool,
            )
            outcome = VerificationOutcome.VERIFIED if matched else VerificationOutcome.MISMATCH
            await self._finish(outcome)
            return outcome.value
        self._show("sending code")
        issued: IssueCodeResult | None = None
        try:
            issued = await workflow.execute_activity(
                "send_verification_code",
                IssueCodeInput(
                    conversation=data.conversation, verification_id=data.verification_id
                ),
                start_to_close_timeout=SEND_CODE_TIMEOUT,
                retry_policy=SEND_CODE_RETRY,
                result_type=IssueCodeResult,
            )
        except ActivityError as err:
            workflow.logger.warning("verification code not sent: %s", type(err.cause).__name__)
        if issued is None or issued.mail_failed:
            await self._finish(VerificationOutcome.MAIL_FAILED)
            return VerificationOutcome.MAIL_FAILED.value
        expires_at = workflow.now() + timedelta(seconds=data.code_ttl_s)
        self._show("waiting for the code")
        while True:
            remaining = expires_at - workflow.now()
            try:
                await workflow.wait_condition(
                    lambda: bool(self._submissions) or self._next is not None,
                    timeout=max(remaining, timedelta(0)),
                )
            except TimeoutError:
                await self._finish(VerificationOutcome.EXPIRED, reply=False)
                return VerificationOutcome.EXPIRED.value
            if self._next is not None:
                await self._finish(VerificationOutcome.SUPERSEDED, reply=False)
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._next)
            submission = self._submissions.pop(0)
            if submission.verification_id != data.verification_id:
                continue  # typed for an older request
            if workflow.now() >= expires_at:
                await self._finish(VerificationOutcome.EXPIRED)
                return VerificationOutcome.EXPIRED.value
            if hashes_match(issued.code_hash, submission.code_hash):
                await self._finish(VerificationOutcome.VERIFIED)
                return VerificationOutcome.VERIFIED.value
            self._attempts += 1
            if self._attempts >= data.max_attempts:
                await self._finish(VerificationOutcome.LOCKED)
                return VerificationOutcome.LOCKED.value
            await self._finish(VerificationOutcome.WRONG_CODE, final=False)
            self._show("waiting for the code")

    async def _finish(
        self, outcome: VerificationOutcome, *, reply: bool = True, final: bool = True
    ) -> None:
        data = self._data
        result: OutcomeResult = await workflow.execute_activity(
            "record_verification_outcome",
            OutcomeInput(
                conversation=data.conversation,
                verification_id=data.verification_id,
                outcome=outcome,
                attempts=self._attempts,
                attempts_left=max(data.max_attempts - self._attempts, 0),
                key=f"{outcome.value}:{self._attempts}",
                at=workflow.now(),
                reply=reply,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
            result_type=OutcomeResult,
        )
        if final:
            self._show(outcome.value)
        await deliver(data.conversation, result.outbound_ids, "verification replies")

    def _show(self, stage: str) -> None:
        self._stage = stage
        workflow.upsert_search_attributes([STAGE.value_set(f"verify:{stage}")])
        workflow.set_current_details(
            f"Level: **{self._data.level}** · stage: **{stage}** · wrong codes: "
            f"{self._attempts}/{self._data.max_attempts}"
        )
