"""Temporal client factory shared by the API, the worker, the CLI and the tests."""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from workflows.common import ALL_SEARCH_ATTRIBUTES

logger = logging.getLogger(__name__)


async def connect(address: str, namespace: str) -> Client:
    """Connect with the pydantic data converter (DESIGN.md: every client uses it)."""
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


async def ensure_search_attributes(client: Client) -> None:
    """Register Tendero's custom search attributes; attributes that exist are left alone."""
    request = AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in ALL_SEARCH_ATTRIBUTES
        },
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        logger.debug("search attributes already registered")
