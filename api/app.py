"""FastAPI app factory; the lifespan owns the engine, the Temporal client and the sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.routes import (
    agent_users,
    api_keys,
    codec,
    ecommerce,
    health,
    integrations,
    operator,
    privacy,
    recovery,
    shopify_oauth,
    sink,
    store_webhooks,
    tickets,
    whatsapp,
)
from tendero.db.engine import make_engine, make_sessionmaker
from tendero.settings import Settings
from workflows.client import connect, data_converter


def create_app(settings: Settings, *, temporal: Client | None = None) -> FastAPI:
    """Build the API.

    Args:
        settings: configuration; ``database_url`` and ``temporal_address`` must be set
            (``tendero dev`` sets them for its children).
        temporal: an already connected client (tests); otherwise one is connected at startup.

    Raises:
        ValueError: ``DATABASE_URL`` is not set.
    """
    if settings.database_url is None:
        raise ValueError("DATABASE_URL is not set (run `tendero dev`, or set it)")
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database_url)
        app.state.settings = settings
        app.state.sessions = make_sessionmaker(engine)
        app.state.sink = sink.Sink()
        if temporal is not None:
            app.state.temporal = temporal
        else:
            assert settings.temporal_address is not None, "TEMPORAL_ADDRESS is not set"
            app.state.temporal = await connect(
                settings.temporal_address,
                settings.temporal_namespace,
                data_converter=data_converter(settings),
            )
        yield
        await engine.dispose()

    app = FastAPI(
        title="Tendero",
        summary="Durable conversational commerce on WhatsApp",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.include_router(whatsapp.router)
    app.include_router(store_webhooks.router)
    app.include_router(health.router)
    app.include_router(operator.router)
    app.include_router(api_keys.router)
    app.include_router(integrations.router)
    app.include_router(shopify_oauth.router)
    app.include_router(agent_users.router)
    app.include_router(ecommerce.router)
    app.include_router(tickets.router)
    app.include_router(privacy.router)
    app.include_router(privacy.settings_router)
    app.include_router(recovery.router)
    app.include_router(recovery.public_router)
    app.include_router(codec.router)
    if settings.tendero_sink_enabled:
        app.include_router(sink.router)
    return app
