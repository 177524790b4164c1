"""The Tendero worker: builds clients, registers every workflow and activity, runs.

Run with ``tendero worker`` (or ``python worker.py``); scale out by starting more of them on
the same task queue.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.agent import AgentActivities, AgentToolActivities
from activities.checkout import CheckoutActivities
from activities.conversation import ConversationActivities
from activities.mail import MailActivities
from activities.messaging import MessagingActivities
from activities.privacy import PrivacyActivities, RetentionActivities
from activities.recovery import RecoveryActivities, RecoveryTrigger
from activities.store_events import StoreEventActivities
from activities.sync import SyncActivities
from activities.tickets import TicketActivities
from activities.verification import VerificationActivities
from tendero.agent.model import ModelClients
from tendero.channels.whatsapp.graph import GraphClient
from tendero.db.engine import make_engine, make_sessionmaker
from tendero.mail.smtp import Mailer
from tendero.settings import Settings, get_settings
from tendero.stores.factory import StoreClients
from workflows.checkout import CheckoutWorkflow
from workflows.client import connect, data_converter, ensure_search_attributes
from workflows.conversation import ConversationWorkflow
from workflows.privacy import PrivacyDeleteWorkflow, PrivacyExportWorkflow, start_privacy_workflow
from workflows.recovery import AbandonedCartWorkflow
from workflows.retention import RetentionWorkflow
from workflows.schedules import ensure_retention_schedule
from workflows.store_event import StoreEventWorkflow
from workflows.store_sync import StoreSyncWorkflow
from workflows.ticket import TicketWorkflow
from workflows.verification import VerificationWorkflow

WORKFLOWS: Sequence[type] = (
    ConversationWorkflow,
    CheckoutWorkflow,
    StoreSyncWorkflow,
    StoreEventWorkflow,
    VerificationWorkflow,
    TicketWorkflow,
    AbandonedCartWorkflow,
    PrivacyExportWorkflow,
    PrivacyDeleteWorkflow,
    RetentionWorkflow,
)


def build_activities(
    *,
    sessions: async_sessionmaker[AsyncSession],
    client: Client,
    graph_http: httpx.AsyncClient,
    settings: Settings,
    model_clients: ModelClients | None = None,
    store_http: httpx.AsyncClient | None = None,
) -> list[Any]:
    """Every activity, bound to its injected clients (``store_http`` defaults to ``graph_http``)."""
    graph = GraphClient(graph_http, settings.whatsapp_graph_url, settings.whatsapp_api_version)
    models = model_clients or ModelClients(timeout_s=settings.openai_timeout_s)
    recovery_trigger = RecoveryTrigger(sessions, client, settings)
    conversation = ConversationActivities(sessions, settings, recovery=recovery_trigger)
    agent = AgentActivities(sessions, settings, models)
    messaging = MessagingActivities(sessions, graph, settings.keyring)
    stores = StoreClients(sessions, store_http or graph_http, settings)
    checkout = CheckoutActivities(sessions, client, settings.checkout_confirm_ttl_s, stores)
    sync = SyncActivities(sessions, stores, settings)
    store_events = StoreEventActivities(
        sessions, stores, client, functools.partial(start_privacy_workflow, client)
    )
    mailer = Mailer(settings)
    verification = VerificationActivities(sessions, mailer, settings)
    tickets = TicketActivities(sessions, mailer)
    recovery = RecoveryActivities(sessions, mailer, settings, stores)
    return [
        conversation.run_turn,
        messaging.deliver_messages,
        checkout.prepare_summary,
        checkout.compose_checkout_message,
        checkout.place_order,
        checkout.confirm_checkout,
        agent.model_step,
        agent.set_owner,
        *AgentToolActivities(sessions, recovery=recovery_trigger).all(),
        sync.start_sync_run,
        sync.sync_batch,
        sync.finish_sync_run,
        sync.check_store_webhooks,
        store_events.apply_store_event,
        MailActivities(sessions, mailer).send_email,
        verification.send_verification_code,
        verification.check_order_email,
        verification.record_verification_outcome,
        tickets.open_ticket,
        tickets.apply_ticket_change,
        tickets.notify_ticket_agents,
        recovery.start_cart_recovery,
        recovery.cart_recovery_step,
        recovery.finish_cart_recovery,
        *PrivacyActivities(sessions, client).all(),
        *RetentionActivities(sessions, client).all(),
    ]


def build_worker(
    client: Client,
    *,
    sessions: async_sessionmaker[AsyncSession],
    graph_http: httpx.AsyncClient,
    settings: Settings,
    task_queue: str | None = None,
    activities: list[Any] | None = None,
    store_http: httpx.AsyncClient | None = None,
) -> Worker:
    """A Worker with Tendero's workflows and activities (``activities`` overrides, for tests)."""
    return Worker(
        client,
        task_queue=task_queue or settings.temporal_task_queue,
        workflows=list(WORKFLOWS),
        activities=activities
        or build_activities(
            sessions=sessions,
            client=client,
            graph_http=graph_http,
            settings=settings,
            store_http=store_http,
        ),
    )


async def main(settings: Settings | None = None) -> None:
    """Connect to Postgres and Temporal and run until interrupted."""
    settings = settings or get_settings()
    if settings.database_url is None or settings.temporal_address is None:
        raise SystemExit("DATABASE_URL and TEMPORAL_ADDRESS must be set (or use `tendero dev`)")
    engine = make_engine(settings.database_url)
    client = await connect(
        settings.temporal_address,
        settings.temporal_namespace,
        data_converter=data_converter(settings),
    )
    await ensure_search_attributes(client)
    await ensure_retention_schedule(
        client, hour_utc=settings.retention_hour_utc, task_queue=settings.temporal_task_queue
    )
    store_timeout = httpx.Timeout(settings.store_http_timeout_s)
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(15.0)) as http,
        httpx.AsyncClient(timeout=store_timeout) as store_http,
    ):
        worker = build_worker(
            client,
            sessions=make_sessionmaker(engine),
            graph_http=http,
            settings=settings,
            store_http=store_http,
        )
        logging.getLogger(__name__).info(
            "worker running on task queue %s", settings.temporal_task_queue
        )
        try:
            await worker.run()
        finally:
            await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
